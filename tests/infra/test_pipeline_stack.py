"""Pipeline stack: least-privilege grants, Retry/Catch on every Task, encrypted TLS-only notifications,
state machine logging without execution data, tracing, stable outputs."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from routing.errors import RETRYABLE_ERRORS
from routing.settings import PipelineSettings, TrainLocalModelEnv

from cdk_app.config import AppConfig
from cdk_app.stack_outputs import OUTPUT_STATE_MACHINE, OUTPUT_TOPIC
from stacks.constructs.pipeline_definition import (
    DISTILLATION_FUNCTIONS,
    STEP_FUNCTIONS,
    function_substitution,
    iter_states,
    load_definition,
    parse,
)
from stacks.constructs.run_notifications import RunNotifications
from tests.infra.conftest import in_partition

# AWS's recommended list (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html:
# "invoking Lambda results in a 500 error, such as ClientExecutionTimeoutException, ServiceException,
# AWSLambdaException, or SdkClientException"; "Unhandled errors in Lambda are reported as Lambda.Unknown ...
# These include out-of-memory errors and function timeouts"), plus Lambda's own throttling.
LAMBDA_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def template(synthesized) -> Template:
    """The pipeline template as deployed in the `aws` partition."""
    return Template.from_json(in_partition(synthesized.templates["pipeline"].to_json()))


@pytest.fixture(scope="module")
def resources(template: Template) -> dict[str, Any]:
    return template.to_json()["Resources"]


@pytest.fixture(scope="module")
def machine(resources) -> dict[str, Any]:
    (found,) = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    return found


@pytest.fixture(scope="module")
def definition(machine) -> dict[str, Any]:
    return json.loads(machine["DefinitionString"])


def statements(resources: dict[str, Any]) -> list[tuple[str, dict]]:
    """(role logical id, statement) for every policy statement of the stack."""
    found = []
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    found.append((role["Ref"], statement))
    return found


def actions(statement: dict) -> list[str]:
    value = statement["Action"]
    return value if isinstance(value, list) else [value]


def step_role(resources: dict[str, Any], step: str) -> str:
    (role,) = [
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::IAM::Role" and lid.startswith(f"Steps{step}Function")
    ]
    return role


# ---------------------------------------------------------------------------------- IAM


def test_pass_role_only_on_the_bedrock_roles_only_to_bedrock(resources) -> None:
    """StartDistillation passes the distillation role, StartJudge the evaluation role; nothing else passes any."""
    passing = [
        (role, s) for role, s in statements(resources) if any(a.startswith("iam:") for a in actions(s))
    ]
    passed_by = {role: json.dumps(statement["Resource"]) for role, statement in passing}
    assert len(passing) == 2, passed_by
    judge_role = next(
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::IAM::Role" and lid.startswith("EvaluationStartJudge")
    )
    assert set(passed_by) == {step_role(resources, "StartDistillation"), judge_role}
    assert "DistillationRole" in passed_by[step_role(resources, "StartDistillation")]
    assert "EvaluationRole" in passed_by[judge_role]
    for _role, statement in passing:
        assert actions(statement) == ["iam:PassRole"]
        assert "Fn::ImportValue" in json.dumps(statement["Resource"])
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}


def test_bedrock_actions_are_named_and_scoped(resources) -> None:
    for role, statement in statements(resources):
        bedrock = [a for a in actions(statement) if a.startswith("bedrock:")]
        if not bedrock:
            continue
        assert all("*" not in action for action in bedrock), (role, bedrock)
        if statement["Resource"] == "*":
            # List operations support no resource-level permissions; CreateEvaluationJob's resource types are
            # the models it evaluates (AWS's judge policy grants it on "*"); nothing else may be on "*".
            assert all(a.startswith("bedrock:List") or a == "bedrock:CreateEvaluationJob" for a in bedrock), (
                role,
                bedrock,
            )
            continue
        resources_text = json.dumps(statement["Resource"])
        assert '"*"' not in resources_text, (role, bedrock)
        assert ":bedrock:" in resources_text


def test_each_step_has_only_its_own_bedrock_actions(resources) -> None:
    expected = {
        "Plan": {"bedrock:GetFoundationModel"},
        "Generate": {"bedrock:InvokeModel"},
        "PrepareDataset": set(),
        "StartDistillation": {
            "bedrock:CreateModelCustomizationJob",
            "bedrock:GetModelCustomizationJob",
            "bedrock:TagResource",
        },
        "CheckDistillation": {"bedrock:GetModelCustomizationJob"},
        "CreateDeployment": {
            "bedrock:CreateCustomModelDeployment",
            "bedrock:GetCustomModelDeployment",
            "bedrock:TagResource",
        },
        "CheckDeployment": {"bedrock:GetCustomModelDeployment"},
    }
    for step, allowed in expected.items():
        role = step_role(resources, step)
        granted = {
            a for r, s in statements(resources) if r == role for a in actions(s) if a.startswith("bedrock:")
        }
        assert granted == allowed, step


def test_the_teacher_is_the_only_model_the_distillation_steps_invoke(resources, synthesized) -> None:
    roles = {step_role(resources, step) for step in DISTILLATION_FUNCTIONS}
    invoke = [s for r, s in statements(resources) if r in roles and "bedrock:InvokeModel" in actions(s)]
    (direct,) = [s for s in invoke if "Condition" not in s]
    (routed,) = [s for s in invoke if "Condition" in s]
    assert "inference-profile/us.amazon.nova-pro-v1:0" in json.dumps(direct["Resource"])
    # The teacher's foundation model in whichever region the profile routes to, only through the profile.
    assert routed["Resource"] == "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"
    assert "inference-profile/us.amazon.nova-pro-v1:0" in json.dumps(routed["Condition"])
    text = json.dumps([direct["Resource"], routed["Resource"]])
    assert "foundation-model/*" not in text and "custom-model" not in text


def test_s3_access_is_per_run_prefix_and_listing_is_conditioned(resources) -> None:
    for _, statement in statements(resources):
        if "s3:ListBucket" in actions(statement):
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            assert list(statement["Condition"]) == ["StringLike"] and prefixes
            assert all(prefix.startswith(("runs/", "imports/")) for prefix in prefixes), prefixes
        elif any(a.startswith("s3:") for a in actions(statement)):
            for resource in (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            ):
                suffix = resource["Fn::Join"][1][-1]
                assert suffix.startswith(("/runs/*/", "/imports/")), suffix


def test_plan_reads_and_writes_only_the_manifest_and_reads_the_gold_set(resources) -> None:
    """Plan asks whether a prepared or brought dataset exists by listing; of imports/ it only reads (a gold
    set, checked before anything is paid for)."""
    role = step_role(resources, "Plan")
    objects = [
        s
        for r, s in statements(resources)
        if r == role and any(a.startswith("s3:") and a != "s3:ListBucket" for a in actions(s))
    ]
    assert objects
    granted_actions: dict[str, set[str]] = {}
    for statement in objects:
        granted = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in granted:
            granted_actions.setdefault(resource["Fn::Join"][1][-1], set()).update(actions(statement))
    assert granted_actions == {
        "/runs/*/manifest.json": {"s3:GetObject", "s3:PutObject"},
        "/imports/*": {"s3:GetObject"},
    }


# ---------------------------------------------------------------------------------- the definition


def test_every_task_retries_with_jitter_and_has_a_catch_all(definition) -> None:
    """Every Task of the whole definition (the evaluation states included once merged)."""
    states = {name: (state, parent) for name, state, parent in iter_states(definition)}
    tasks = {name: (state, parent) for name, (state, parent) in states.items() if state["Type"] == "Task"}
    assert len(tasks) >= 8
    for name, (state, parent) in tasks.items():
        assert state["Retry"], name
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert 1 <= retrier["MaxAttempts"] <= 10 and retrier["BackoffRate"] >= 1.5, name
            assert 0 < retrier["MaxDelaySeconds"] <= 300, name
        if state["Resource"] == "arn:aws:states:::lambda:invoke":
            assert {
                error for retrier in state["Retry"] for error in retrier["ErrorEquals"]
            } >= LAMBDA_ERRORS, name
        # A Task inside the Map is caught by the Map itself (a Catch cannot leave an iteration).
        catches = state.get("Catch") or states[parent][0].get("Catch")
        assert catches and catches[-1]["ErrorEquals"] == ["States.ALL"], name


def test_pipeline_failures_name_the_step_notify_and_fail(definition) -> None:
    states = {name: (state, parent) for name, state, parent in iter_states(definition)}
    throttling = {error.__name__ for error in RETRYABLE_ERRORS}
    for step in DISTILLATION_FUNCTIONS:
        if step == "TrainLocalModel":
            continue  # never fatal (test_a_failing_tier0_training_is_not_fatal)
        task = states[step][0] if step != "Generate" else states["GenerateBatch"][0]
        assert {e for r in task["Retry"] for e in r["ErrorEquals"]} & throttling, step
        (catch,) = states[step][0]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{step}Failed"}
        named = states[f"{step}Failed"][0]
        assert named["Type"] == "Pass" and named["Parameters"]["step"] == step, step
        assert named["ResultPath"] == "$.error" and named["Next"] == "NotifyFailure", step
    notify = states["NotifyFailure"][0]
    assert notify["Resource"] == "arn:aws:states:::sns:publish" and notify["Next"] == "Failed"
    assert "States.JsonToString($.error)" in notify["Parameters"]["Message.$"]
    assert notify["Catch"][0]["Next"] == "Failed"  # a failed notification still fails the run
    failed = states["Failed"][0]
    assert (failed["Type"], failed["ErrorPath"], failed["CausePath"]) == (
        "Fail",
        "$.error.Error",
        "$.error.Cause",
    )


def test_a_failing_tier0_training_is_not_fatal_and_runs_while_the_job_runs(definition) -> None:
    states = definition["States"]
    assert states["StartDistillation"]["Next"] == "TrainLocalModel"
    train = states["TrainLocalModel"]
    assert train["Next"] == "IsDistillationComplete" and train["ResultPath"] == "$.local_model"
    (catch,) = train["Catch"]
    assert catch == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.local_model_error",
        "Next": "LocalModelNotTrained",
    }
    fallback = states["LocalModelNotTrained"]
    assert fallback["Next"] == "IsDistillationComplete" and fallback["ResultPath"] == "$.local_model"
    assert fallback["Parameters"]["trained"] is False
    # The fallback has every key the task's result has (Evaluate and Report read them).
    assert {key.removesuffix(".$") for key in train["ResultSelector"]} <= set(fallback["Parameters"])


def test_evaluation_failures_notify_and_a_failing_judge_is_not_fatal(definition) -> None:
    states = definition["States"]
    for step in ("Evaluate", "Report", "Promote"):
        (catch,) = states[step]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"{step}Failed"}
        assert states[f"{step}Failed"]["Next"] == "NotifyFailure"
    for step in ("StartJudge", "CheckJudge"):
        (catch,) = states[step]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "JudgeNotAvailable"
    assert states["JudgeNotAvailable"]["Next"] == "Report"
    assert states["DeploymentReady"]["Next"] == "Evaluate"
    gate = states["IsGatePassed"]
    assert gate["Choices"] == [{"Variable": "$.report.gate.passed", "BooleanEquals": True, "Next": "Promote"}]
    assert gate["Default"] == "NotPromoted"
    outcome = states["NotifyOutcome"]
    assert outcome["Resource"] == "arn:aws:states:::sns:publish" and outcome["Next"] == "Succeeded"
    assert outcome["Catch"][0]["Next"] == "Succeeded"  # a lost notification does not undo a finished run


def test_generation_retries_teacher_throttling_longer(definition) -> None:
    batch = definition["States"]["Generate"]["ItemProcessor"]["States"]["GenerateBatch"]
    (teacher,) = [r for r in batch["Retry"] if r["ErrorEquals"] == ["TeacherThrottled"]]
    assert teacher["MaxAttempts"] >= 6 and teacher["MaxDelaySeconds"] >= 120
    assert definition["States"]["Generate"]["MaxConcurrencyPath"] == "$.run.settings.generation_concurrency"


def test_waits_come_from_the_run_settings(definition) -> None:
    waits = {name: state for name, state, _ in iter_states(definition) if state["Type"] == "Wait"}
    assert waits["WaitForDistillation"]["SecondsPath"] == "$.run.settings.wait_seconds.job"
    assert waits["WaitForDeployment"]["SecondsPath"] == "$.run.settings.wait_seconds.deployment"
    assert waits["WaitForJudge"]["SecondsPath"] == "$.run.settings.wait_seconds.evaluation"
    assert all("Seconds" not in state for state in waits.values())


def test_every_lambda_placeholder_is_a_function_of_the_stack(machine, resources) -> None:
    substitutions = machine["DefinitionSubstitutions"]
    template = load_definition()
    for step in STEP_FUNCTIONS:
        placeholder = function_substitution(step)
        assert "${" + placeholder + "}" in template
        target = substitutions[placeholder]["Fn::GetAtt"][0]
        assert resources[target]["Type"] == "AWS::Lambda::Function"
    assert "Ref" in substitutions["NotificationTopicArn"]
    assert parse(template)["StartAt"] == "Plan"


def test_state_machine_is_standard_logged_without_data_traced_and_bounded(
    machine, definition, synthesized
) -> None:
    assert machine["StateMachineType"] == "STANDARD"
    logging = machine["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False and logging["Level"] == "ALL"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert definition["TimeoutSeconds"] == synthesized.config.execution_timeout_hours * 3600


# ---------------------------------------------------------------------------------- notifications, outputs


def test_notifications_are_encrypted_and_tls_only(resources) -> None:
    ((topic_id, topic),) = [(lid, r) for lid, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert resources[key_id]["Properties"]["EnableKeyRotation"] is True
    denies = [
        statement
        for r in resources.values()
        if r["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": topic_id} in r["Properties"]["Topics"]
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
    ]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_failed_executions_raise_an_alarm_on_the_topic(resources) -> None:
    (alarm,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    metrics = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    (action,) = alarm["AlarmActions"]
    assert resources[action["Ref"]]["Type"] == "AWS::SNS::Topic"


def test_every_change_of_the_active_model_parameter_is_notified(resources, synthesized) -> None:
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    (rule,) = [r for r in rules if r["EventPattern"].get("source") == ["aws.ssm"]]
    # Every operation (Create, Update, Delete, LabelParameterVersion) of exactly this parameter.
    assert rule["EventPattern"] == {
        "source": ["aws.ssm"],
        "detail-type": ["Parameter Store Change"],
        "detail": {"name": [synthesized.config.active_model_parameter_name]},
    }
    ((topic_id, topic),) = [(lid, r) for lid, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": topic_id}
    assert "vsr rollback" in json.dumps(target["InputTransformer"])
    # EventBridge may publish to the topic and use its key.
    publishers = [
        s for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy" and {"Ref": topic_id} in r["Properties"]["Topics"]
        for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]  # fmt: skip
    assert any(
        s["Principal"] == {"Service": "events.amazonaws.com"} and s["Action"] == "sns:Publish"
        for s in publishers
    )
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_grants = [
        s for s in resources[key_id]["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]  # fmt: skip
    assert any({"kms:Decrypt", "kms:GenerateDataKey*"} <= set(s["Action"]) for s in key_grants)


def test_email_subscription_when_configured() -> None:
    stack = cdk.Stack(cdk.App())
    RunNotifications(stack, "Notifications", config=AppConfig(notification_email="ops@example.com"))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_stable_outputs(template: Template, synthesized) -> None:
    outputs = template.to_json()["Outputs"]
    assert {OUTPUT_STATE_MACHINE, OUTPUT_TOPIC} <= set(outputs)
    assert synthesized.stacks["pipeline"].stack_name == synthesized.config.stack_name("pipeline")


def test_the_functions_environment_parses_into_pipeline_settings(resources) -> None:
    for step in DISTILLATION_FUNCTIONS:
        (function,) = [
            r
            for lid, r in resources.items()
            if r["Type"] == "AWS::Lambda::Function" and lid.startswith(f"Steps{step}Function")
        ]
        variables = dict(function["Properties"]["Environment"]["Variables"])
        if step == "TrainLocalModel":
            # Its own settings only: it reads the run from the execution state.
            assert TrainLocalModelEnv.from_environ(variables) == TrainLocalModelEnv()
            assert "DATA_BUCKET" not in variables and function["Properties"]["MemorySize"] == 1769
            continue
        assert isinstance(variables["DATA_BUCKET"], dict) and isinstance(
            variables["DISTILLATION_ROLE_ARN"], dict
        )
        variables.update(
            DATA_BUCKET="bucket-from-storage",
            DISTILLATION_ROLE_ARN="arn:aws:iam::123456789012:role/from-storage",
            AWS_REGION="us-east-1",
        )
        parsed = PipelineSettings.from_environ(variables)
        assert parsed.teacher_model_id == "us.amazon.nova-pro-v1:0" and parsed.examples == 10_000
        assert function["Properties"]["Architectures"] == ["arm64"]
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_a_failing_batch_is_tolerated_unless_no_batch_can_succeed(definition) -> None:
    """moto runs ToleratedFailurePercentage only in DISTRIBUTED mode (AWS: a Distributed Map setting), so an
    inline Map tolerates a failed batch with a Catch: its part stays missing and PrepareDataset counts it."""
    generate = definition["States"]["Generate"]
    processor = generate["ItemProcessor"]
    assert processor["ProcessorConfig"]["Mode"] == "INLINE" and "ToleratedFailurePercentage" not in generate
    fatal, tolerated = processor["States"]["GenerateBatch"]["Catch"]
    assert "GenerationAborted" in fatal["ErrorEquals"] and "ModelAccessDenied" in fatal["ErrorEquals"]
    stopped = processor["States"][fatal["Next"]]
    assert (stopped["Type"], stopped["ErrorPath"]) == ("Fail", "$.error.Error")
    assert tolerated["ErrorEquals"] == ["States.ALL"]
    failed = processor["States"][tolerated["Next"]]
    assert failed["Type"] == "Pass" and failed["Parameters"]["failed"] is True and failed["End"]
    assert generate["ItemSelector"]["execution.$"] == "$$.Execution.Id"
    assert (
        definition["States"]["PrepareDataset"]["ResultSelector"]["failed_batches.$"]
        == "$.Payload.failed_batches"
    )
