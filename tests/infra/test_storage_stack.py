"""Storage stack: the properties that keep data safe and Bedrock's access narrow."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template


def _buckets(template: Template) -> dict[str, dict]:
    return template.find_resources("AWS::S3::Bucket")


def _data_bucket(template: Template) -> dict:
    (bucket,) = [b for lid, b in _buckets(template).items() if lid.startswith("DataBucket")]
    return bucket["Properties"]


def _role(template: Template, prefix: str) -> tuple[str, dict]:
    roles = {lid: r for lid, r in template.find_resources("AWS::IAM::Role").items() if lid.startswith(prefix)}
    assert len(roles) == 1, f"expected one {prefix} role, found {list(roles)}"
    return next(iter(roles.items()))


def _statements_of(template: Template, role_logical_id: str) -> list[dict]:
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        roles = policy["Properties"]["Roles"]
        if {"Ref": role_logical_id} in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_every_bucket_is_encrypted_private_and_tls_only(storage_template: Template) -> None:
    buckets = _buckets(storage_template)
    assert len(buckets) >= 2
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
    denies = [
        stmt
        for policy in storage_template.find_resources("AWS::S3::BucketPolicy").values()
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]
        if stmt["Effect"] == "Deny"
        and stmt.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(denies) == len(buckets), "every bucket denies requests without TLS"


def test_data_bucket_is_versioned_logged_and_expires_scratch(storage_template: Template) -> None:
    props = _data_bucket(storage_template)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("AccessLogBucket")
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    scratch = rules["expire-scratch-objects"]
    assert scratch["TagFilters"] == [{"Key": "lifecycle", "Value": "scratch"}]
    assert scratch["ExpirationInDays"] == 30
    assert rules["expire-old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_invocation_logs_expire_after_the_configured_days_old_versions_included(
    storage_template, synthesized
) -> None:
    rules = {rule["Id"]: rule for rule in _data_bucket(storage_template)["LifecycleConfiguration"]["Rules"]}
    logs = rules["expire-invocation-logs"]
    assert logs["Prefix"] == "invocation-logs/" and logs["Status"] == "Enabled"
    assert logs["ExpirationInDays"] == synthesized.config.invocation_log_expiry_days == 90
    assert logs["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_buckets_are_retained_by_default(storage_template: Template) -> None:
    for logical_id, bucket in _buckets(storage_template).items():
        assert bucket["DeletionPolicy"] == "Retain", logical_id
        assert bucket["UpdateReplacePolicy"] == "Retain", logical_id
    assert not storage_template.find_resources("Custom::S3AutoDeleteObjects")


@pytest.mark.parametrize(
    ("prefix", "job_kind"),
    [("DistillationRole", "model-customization-job"), ("EvaluationRole", "evaluation-job")],
)
def test_bedrock_roles_trust_only_bedrock_for_this_accounts_jobs(
    storage_template: Template, prefix: str, job_kind: str
) -> None:
    _, role = _role(storage_template, prefix)
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    conditions = statement["Condition"]
    assert conditions["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    source_arn = json.dumps(conditions["ArnLike"]["aws:SourceArn"])
    assert f":{job_kind}/*" in source_arn and "arn:aws:bedrock:" in source_arn


def _actions_and_resources(statements: list[dict]) -> list[tuple[set[str], list[str]]]:
    return [
        (set(_as_list(s["Action"])), [json.dumps(r) for r in _as_list(s["Resource"])]) for s in statements
    ]


def test_distillation_role_reads_training_writes_output_invokes_only_the_teacher(
    storage_template: Template,
) -> None:
    role_id, _ = _role(storage_template, "DistillationRole")
    statements = _statements_of(storage_template, role_id)
    pairs = _actions_and_resources(statements)
    for actions, resources in pairs:
        assert all(a != "*" and not a.endswith(":*") for a in actions), actions
        assert all(r != '"*"' for r in resources), resources
    by_action = {frozenset(a): r for a, r in pairs}
    assert any("/runs/*/dataset/*" in r for actions, res in pairs if actions == {"s3:GetObject"} for r in res)
    assert any("/runs/*/distillation-output/*" in r for r in by_action[frozenset({"s3:PutObject"})])
    invoke = [s for s in statements if s["Action"] == "bedrock:InvokeModel"]
    # The default teacher is the US cross-region profile of Nova Pro: the profile, and the model in any
    # region AWS routes to, only through that profile.
    direct = [s for s in invoke if "Condition" not in s]
    (routed,) = [s for s in invoke if "Condition" in s]
    assert "inference-profile/us.amazon.nova-pro-v1:0" in json.dumps([s["Resource"] for s in direct])
    assert routed["Resource"] == "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"
    assert "inference-profile/us.amazon.nova-pro-v1:0" in json.dumps(
        routed["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
    )
    assert "foundation-model/*" not in json.dumps(invoke) and "premier" not in json.dumps(invoke)
    listing = next(s for s in statements if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["runs/*", "invocation-logs/*"]}}
    # Runs that distil from the router's invocation logs: Bedrock reads them with this role.
    reads = [r for actions, res in pairs if actions == {"s3:GetObject"} for r in res]
    assert any("/invocation-logs/*" in r for r in reads)
    # Nothing may write the training data or read other prefixes.
    assert not any("s3:PutObject" in a and any("dataset" in r for r in res) for a, res in pairs)


def test_evaluation_role_reads_inputs_writes_outputs_invokes_the_judge(storage_template: Template) -> None:
    role_id, _ = _role(storage_template, "EvaluationRole")
    pairs = {frozenset(a): r for a, r in _actions_and_resources(_statements_of(storage_template, role_id))}
    assert any("/runs/*/evaluation/input/*" in r for r in pairs[frozenset({"s3:GetObject"})])
    assert any("/runs/*/evaluation/output/*" in r for r in pairs[frozenset({"s3:PutObject"})])
    assert not any("invocation-logs" in r for res in pairs.values() for r in res)
    judge = " ".join(pairs[frozenset({"bedrock:InvokeModel", "bedrock:CreateModelInvocationJob"})])
    assert "inference-profile/us.amazon.nova-pro-v1:0" in judge
    assert ":model-invocation-job/*" in judge


def test_no_stack_owns_the_value_promotion_writes(synthesized) -> None:
    # A CloudFormation-managed parameter is rewritten from its template on a tag or description
    # change (aws-cdk#25949): the promoted model and its `previous` would be lost.
    name = synthesized.config.active_model_parameter_name
    for role, template in synthesized.templates.items():
        assert template.find_resources("AWS::SSM::Parameter") == {}, role
        # Nor does a custom resource write it on create or update.
        custom = [r for r in template.to_json()["Resources"].values() if r["Type"].startswith("Custom::")
                  or r["Type"] == "AWS::CloudFormation::CustomResource"]  # fmt: skip
        assert not any(name in json.dumps(resource) for resource in custom), role


def test_the_grants_on_the_active_model_target_exactly_its_parameter(synthesized) -> None:
    name = synthesized.config.active_model_parameter_name
    granted: dict[str, set[str]] = {}
    for role in ("pipeline", "router_api"):
        stack = synthesized.stacks[role]
        expected = json.dumps(stack.resolve(stack.format_arn(service="ssm", resource="parameter",
                                                             resource_name=name.lstrip("/"))), sort_keys=True)  # fmt: skip
        for policy in synthesized.templates[role].find_resources("AWS::IAM::Policy").values():
            (attached,) = (ref["Ref"] for ref in policy["Properties"]["Roles"])
            who = "rollout_controller" if attached.startswith("RolloutController") else role
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = [a for a in _as_list(statement["Action"]) if a.startswith("ssm:")]
                if actions:
                    assert [json.dumps(r, sort_keys=True) for r in _as_list(statement["Resource"])] == [
                        expected
                    ]
                    for action in actions:
                        granted.setdefault(action, set()).add(who)
    # Promotion and the rollout controller (abort on alarm, finish) write it; the router only reads it;
    # nothing else touches SSM.
    assert granted == {
        "ssm:GetParameter": {"pipeline", "router_api", "rollout_controller"},
        "ssm:PutParameter": {"pipeline", "rollout_controller"},
    }
    assert synthesized.templates["storage"].to_json()["Outputs"]["ActiveModelParameterName"]["Value"] == name


def test_stable_outputs(storage_template: Template) -> None:
    outputs = storage_template.find_outputs("*")
    for name in ("DataBucketName", "DistillationRoleArn", "EvaluationRoleArn", "ActiveModelParameterName"):
        assert name in outputs, name


def test_destroy_policy_for_dev_stage_empties_and_deletes_buckets(tmp_path) -> None:
    from tests.infra.conftest import synthesize

    app = synthesize(tmp_path, removal_policy="destroy")
    template = app.templates["storage"]
    for logical_id, bucket in _buckets(template).items():
        assert bucket["DeletionPolicy"] == "Delete", logical_id
    template.has_resource("Custom::S3AutoDeleteObjects", Match.any_value())


def test_only_bedrock_logging_of_this_account_may_deliver_invocation_logs(storage_template: Template) -> None:
    allows = [
        stmt
        for policy in storage_template.find_resources("AWS::S3::BucketPolicy").values()
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]
        if stmt["Effect"] == "Allow" and stmt.get("Principal") == {"Service": "bedrock.amazonaws.com"}
    ]
    (delivery,) = allows
    assert delivery["Action"] == "s3:PutObject"
    assert '"/invocation-logs/*"' in json.dumps(delivery["Resource"])
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "arn:aws:bedrock:" in json.dumps(delivery["Condition"]["ArnLike"]["aws:SourceArn"])
