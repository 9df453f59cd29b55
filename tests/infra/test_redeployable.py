"""A destroyed stage can be deployed again: nothing retained on destroy carries a fixed physical name.

A resource with `DeletionPolicy: Retain` outlives `cdk destroy`; if its name is fixed in the
template, the next create of the same stage fails with "already exists". Which property is a
resource's physical name comes from AWS's own CloudFormation resource schemas (the copy
cfn-lint ships): a create-only property that is the type's primary identifier or is named
`<Type>Name` (LogGroupName, BucketName, RoleName...). A name built from `AWS::StackId` is
new on every stack creation, so it cannot collide.
"""

from __future__ import annotations

import json
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER


def physical_name_properties(region: str, resource_type: str) -> list[str]:
    """The properties of `resource_type` that set its physical name, from the CloudFormation schema."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    create_only = {path.removeprefix("/properties/") for path in schema.get("createOnlyProperties", [])}
    identifiers = {path.removeprefix("/properties/") for path in schema.get("primaryIdentifier", [])}
    own_name = resource_type.rsplit("::", 1)[-1] + "Name"
    return sorted(name for name in create_only if name in identifiers or name == own_name)


def fixed_names_of_retained(template: dict[str, Any], region: str) -> list[str]:
    """`<logical id>.<property>` for every retained resource whose physical name is fixed."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("DeletionPolicy") != "Retain" or resource["Type"].startswith("Custom::"):
            continue
        properties = resource.get("Properties", {})
        for name in physical_name_properties(region, resource["Type"]):
            if name in properties and '"AWS::StackId"' not in json.dumps(properties[name]):
                found.append(f"{logical_id}.{name} = {json.dumps(properties[name])}")
    return found


def test_the_schema_names_the_physical_name_properties() -> None:
    assert physical_name_properties("us-east-1", "AWS::Logs::LogGroup") == ["LogGroupName"]
    assert physical_name_properties("us-east-1", "AWS::S3::Bucket") == ["BucketName"]
    assert "RoleName" in physical_name_properties("us-east-1", "AWS::IAM::Role")
    assert physical_name_properties("us-east-1", "AWS::StepFunctions::StateMachine") == ["StateMachineName"]


def test_a_fixed_name_on_a_retained_resource_is_found() -> None:
    template = {"Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "Properties": {"LogGroupName": "/x"}},
        "Unique": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain",
                   "Properties": {"LogGroupName": {"Fn::Join": ["", ["/x-", {"Ref": "AWS::StackId"}]]}}},
        "Deleted": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "Properties": {"LogGroupName": "/y"}},
    }}  # fmt: skip
    assert fixed_names_of_retained(template, "us-east-1") == ['Logs.LogGroupName = "/x"']


def test_no_retained_resource_of_any_stack_has_a_fixed_name(synthesized) -> None:
    retained = 0
    for role, path in synthesized.template_files.items():
        template = json.loads(path.read_text())
        retained += sum(r.get("DeletionPolicy") == "Retain" for r in template["Resources"].values())
        assert fixed_names_of_retained(template, synthesized.config.region) == [], role
    assert retained > 0  # the default removal policy retains data and logs: the rule has something to check
