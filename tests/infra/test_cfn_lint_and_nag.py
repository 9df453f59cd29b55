"""Every synthesized template passes cfn-lint, and cdk-nag AwsSolutions guards the whole app."""

from __future__ import annotations

import pytest
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint_file

from cdk_app.app import build_app
from stacks.constructs.nag import rendered
from tests.infra.conftest import NO_BUNDLING


def test_app_synthesizes_with_no_unacknowledged_cdk_nag_findings(synthesized) -> None:
    # The session fixture synthesized every stack with the AwsSolutions plugin attached;
    # an unacknowledged finding would have raised there.
    assert set(synthesized.templates) >= {"storage"}


def test_cdk_nag_is_attached_to_the_app_and_stops_synthesis_on_a_finding(tmp_path) -> None:
    app, _config, stacks = build_app(NO_BUNDLING, outdir=str(tmp_path))
    s3.CfnBucket(stacks["storage"], "CarelessBucket")  # no encryption settings, no logging, no TLS policy
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "Storage/CarelessBucket" in str(failure.value)
    assert "AwsSolutions::AwsSolutions-S1'" in str(failure.value)


def test_cfn_lint_has_no_errors_on_any_template(synthesized) -> None:
    for role, path in synthesized.template_files.items():
        matches = lint_file(path, config=ManualArgs(regions=[synthesized.config.region]))
        errors = [m for m in matches if m.rule.id.startswith("E")]
        assert not errors, f"{role}: " + "\n".join(str(m) for m in errors)


def test_findings_are_rendered_as_cdk_nag_prints_template_values() -> None:
    # cdk-nag's flattenCfnReference: references in angle brackets, joins flattened, imports by export name.
    bucket_objects = {"Fn::Join": ["", [{"Fn::GetAtt": ["DataBucketE3889A50", "Arn"]}, "/runs/*/dataset/*"]]}
    assert rendered(bucket_objects) == "<DataBucketE3889A50.Arn>/runs/*/dataset/*"
    imported = {
        "Fn::Join": ["", [{"Fn::ImportValue": "vsr-dev-storage:ExportsOutputFnGetAttDataBucket"}, "/*"]]
    }
    assert rendered(imported) == "vsr-dev-storage:ExportsOutputFnGetAttDataBucket/*"
    arn = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":bedrock:us-east-1:", {"Ref": "AWS::AccountId"},
                             ":evaluation-job/*"]]}  # fmt: skip
    assert rendered(arn) == "arn:<AWS::Partition>:bedrock:us-east-1:<AWS::AccountId>:evaluation-job/*"
    assert rendered({"Fn::Sub": "arn:${AWS::Partition}:s3:::b/*"}) == "arn:<AWS::Partition>:s3:::b/*"
    assert rendered("*") == "*"
    assert rendered({"Fn::Select": [0, ["a"]]}) == '{"Fn::Select":[0,["a"]]}'
