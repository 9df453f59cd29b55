"""The evaluation states executed by moto's Step Functions, with the real handlers in process.

The definition is statemachine/pipeline.asl.json itself, cut down to DeploymentReady and
the states reachable from it (evaluation, judge, report, gate, promotion, notifications). Lambda invocations are routed
to the handlers (DESIGN "Recipes"); Bedrock's control plane is the offline stand-in (cdk_app.local.bedrock,
which validates every request against botocore's service model) with scripted judge scores, its runtime
the canned answers of tests.evaluation_support; S3, SSM, SNS and SQS are moto.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from routing.clients import override_clients, override_timer
from routing.evaluation.promotion import rollback

from cdk_app.local.bedrock import offline_clients
from stacks.constructs.pipeline_definition import (
    EVALUATION_FUNCTIONS,
    function_substitution,
    load_definition,
    parse,
    reachable_from,
    render,
)
from tests.evaluation_support import (
    BASELINE_ID,
    DEPLOYMENT_ARN,
    JUDGE_ID,
    ROLE_ARN,
    STUDENT_ID,
    FakeContext,
    FakeRuntime,
    exact,
    garbage,
    holdout_jsonl,
    load_handler,
    reference_by_query,
    shifted,
)
from tests.pipeline_support import dataset_state, deployment_state, run_state

pytestmark = pytest.mark.slow

ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "vsr-data"
PARAMETER = "/vsr/dev/router/active-model"
COUNT = 12
FUNCTIONS = EVALUATION_FUNCTIONS
# Loaded at collection time: importing Powertools' tracer opens the X-Ray SDK's UDP socket,
# which pytest-socket only allows before the tests start.
HANDLERS = {name: load_handler(folder) for name, folder in FUNCTIONS.items()}


def definition(topic_arn: str) -> str:
    """The pipeline's own definition from DeploymentReady on: the evaluation states and their notifications."""
    part = reachable_from(parse(load_definition()), "DeploymentReady")
    substitutions = {
        function_substitution(name): f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        for name in FUNCTIONS
    }
    return render(
        json.dumps(part), {**substitutions, "NotificationTopicArn": topic_arn, "ProjectPrefix": "vsr-dev"}
    )


# The judge scores each candidate's answers alike: the gate and the report read these means.
JUDGE_SCORES = {"distilled": 4.0, "student": 2.0, "baseline": 4.0}


def offline_bedrock(s3: Any, **script: Any) -> Any:
    """The control plane of the judge: the offline stand-in, its evaluation job done on the 2nd poll."""
    bedrock = offline_clients(s3=s3, evaluation_polls=1)["bedrock"]
    bedrock.account.script.judge_opinion = lambda record: JUDGE_SCORES[record["category"]]
    for name, value in script.items():
        setattr(bedrock.account.script, name, value)
    return bedrock


_evaluate_calls: list[str] = []


def _invoke(self, function_name, qualifier, body, headers, response_headers):  # moto's signature
    name = function_name.rsplit(":", 1)[-1]
    module = HANDLERS[name]
    if name == "Evaluate":
        _evaluate_calls.append(name)
    try:
        result = module.handler(json.loads(body), FakeContext(name))
    except Exception as exc:  # what the Lambda runtime reports for an unhandled error
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
    return json.dumps(result).encode()


_WALL_CLOCK_BUDGET = HANDLERS["Evaluate"].invocation_budget
FIRST_INVOCATION_CALLS = 20


def _first_invocation_budget(context, env):
    """The first Evaluate invocation's soft budget ends after 20 budget checks (calls started once one has
    finished); at most 12 calls start before that (3 candidates x 4 in flight), so at most 32 of the 36
    calls run and the run must resume in a second invocation. Counted in calls, not seconds, so that a
    loaded machine cannot change the outcome.
    """
    if len(_evaluate_calls) > 1:
        return _WALL_CLOCK_BUDGET(context, env)
    started = itertools.count()
    return (lambda: next(started) >= FIRST_INVOCATION_CALLS), (lambda: False)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("EVALUATION_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("JUDGE_JOB_NAME_PREFIX", "vsr-dev")
    monkeypatch.setenv("ACTIVE_MODEL_PARAMETER", PARAMETER)
    monkeypatch.setenv("EVALUATION_CONCURRENCY", "4")
    monkeypatch.setenv("EVALUATION_RESERVE_SECONDS", "10")
    monkeypatch.setenv("MODEL_PRICES", json.dumps({
        "amazon.nova-micro-v1:0": {"input_per_1m": 0.035, "output_per_1m": 0.14},
        "anthropic.claude-haiku-4-5-20251001-v1:0": {"input_per_1m": 1.0, "output_per_1m": 5.0},
    }))  # fmt: skip
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    _evaluate_calls.clear()
    monkeypatch.setattr(HANDLERS["Evaluate"], "invocation_budget", _first_invocation_budget)
    with mock_aws(config=config), mock.patch.object(LambdaSimpleBackend, "invoke", _invoke):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/holdout.jsonl", Body=holdout_jsonl(COUNT))
        ssm = boto3.client("ssm", region_name=REGION)
        previous = {"model_id": "us.anthropic.claude-haiku-4-5-20251001-v1:0", "run_id": "run-0",
                    "promoted_at": "2025-01-01T00:00:00+00:00", "previous": None}  # fmt: skip
        ssm.put_parameter(Name=PARAMETER, Value=json.dumps(previous), Type="String")
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="outcomes")["TopicArn"]
        queue = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(name="evaluation", definition=definition(topic),
                                           roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")["stateMachineArn"]  # fmt: skip
        yield {"s3": s3, "ssm": ssm, "sqs": sqs, "queue": queue, "sfn": sfn, "machine": machine}


def execute(aws, *, distilled, judge: bool, bedrock: Any = None, holdout_key: str | None = None):
    runtime = FakeRuntime({DEPLOYMENT_ARN: distilled, STUDENT_ID: garbage, BASELINE_ID: exact}, reference_by_query(COUNT),
                          delays={DEPLOYMENT_ARN: 0.001, BASELINE_ID: 0.3})  # fmt: skip
    state = {
        "run": run_state(bucket=BUCKET, judge=judge, judge_model_id=JUDGE_ID).model_dump(mode="json"),
        "dataset": dataset_state(holdout_key=holdout_key or "runs/run-1/dataset/holdout.jsonl", train_count=500,
                                 holdout_count=COUNT).model_dump(mode="json"),
        "deployment": deployment_state(DEPLOYMENT_ARN, deployment_name="vsr-dev-run-1").model_dump(mode="json"),
    }  # fmt: skip
    # Calls are timed with the runtime's simulated clock: the latency part of the gate cannot flip under load.
    with (
        override_clients({"bedrock-runtime": runtime, "bedrock": bedrock or offline_bedrock(aws["s3"])}),
        override_timer(runtime.timer),
    ):
        arn = aws["sfn"].start_execution(
            stateMachineArn=aws["machine"], name="run-1", input=json.dumps(state)
        )["executionArn"]
        deadline = time.monotonic() + 30
        while (described := aws["sfn"].describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution did not finish"
            time.sleep(0.05)
    history = aws["sfn"].get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    output = json.loads(described["output"]) if described.get("output") else None
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return described["status"], output, entered, [m["Body"] for m in messages]


def active_model(aws) -> dict:
    return json.loads(aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]["Value"])


def test_gate_pass_promotes_and_rollback_restores(aws) -> None:
    bedrock = offline_bedrock(aws["s3"])
    status, output, entered, messages = execute(aws, distilled=shifted(0.04), judge=True, bedrock=bedrock)
    assert status == "SUCCEEDED", entered
    assert entered.count("Evaluate") == 2  # the first invocation's time budget ended: the second resumed
    assert entered[-3:] == ["Promote", "NotifyOutcome", "Succeeded"]
    assert "WaitForJudge" in entered and output["judge"]["status"] == "Completed"
    assert output["report"]["gate"]["passed"] is True
    (score_check,) = [r for r in output["report"]["gate"]["reasons"] if r.startswith("distilled - baseline")]
    assert score_check.endswith(">= -tolerance -0.25: not worse")
    assert output["promotion"] == {"promoted": True, "model_id": DEPLOYMENT_ARN, "previous_model_id": BASELINE_ID,
                                   "run_id": "run-1", "changed": True, "rollout": None}  # fmt: skip
    value = active_model(aws)
    assert value["model_id"] == DEPLOYMENT_ARN and value["previous"]["run_id"] == "run-0"

    report = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=output["report"]["report_key"])["Body"].read()
    )
    assert {m["candidate"]: m["judge_mean_score"] for m in report["models"]} == {
        "distilled": 4.0,
        "student": 2.0,
        "baseline": 4.0,
    }
    assert bedrock.account.count("CreateEvaluationJob") == 1
    assert (
        len(messages) == 1 and "Gate PASSED" in messages[0] and output["report"]["console_url"] in messages[0]
    )

    rollback(aws["ssm"], PARAMETER)
    assert active_model(aws)["model_id"] == BASELINE_ID and active_model(aws)["run_id"] == "run-0"


def test_gate_fail_leaves_the_parameter_untouched(aws) -> None:
    before = aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]
    status, output, entered, messages = execute(aws, distilled=garbage, judge=False)
    assert status == "SUCCEEDED", entered
    assert "Promote" not in entered and "NotPromoted" in entered and "WaitForJudge" not in entered
    assert output["judge"]["status"] == "Skipped"
    assert output["report"]["gate"]["passed"] is False
    assert output["promotion"]["promoted"] is False
    after = aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]
    assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])
    assert len(messages) == 1
    assert "FAILED min_mean_score" in messages[0] and "FAILED min_json_validity" in messages[0]


def _one_query_worse(model_id: str, query: str, reference: dict[str, float] | None) -> dict[str, Any]:
    """Exact on 11 of the 12 queries; on the first, 0.12 of weight moved off the dominant modality (scores 3)."""
    return (shifted(0.12) if query.startswith("query 0 ") else exact)(model_id, query, reference)


def test_slightly_worse_within_noise_is_undecided_and_not_promoted(aws) -> None:
    # Distilled 4.83 vs baseline 5.00: -0.17, inside the 0.25 tolerance (the point-estimate rule promoted
    # it), but with 12 queries the paired interval reaches -0.50: undecided, which fails closed.
    before = aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]
    status, output, entered, messages = execute(aws, distilled=_one_query_worse, judge=False)
    assert status == "SUCCEEDED", entered
    assert "Promote" not in entered and "NotPromoted" in entered
    assert output["report"]["gate"]["passed"] is False
    (reason,) = output["report"]["gate"]["reasons"]
    assert reason.startswith("FAILED max_score_drop: distilled - baseline mean score -0.17 (95 % CI -0.50 to")
    assert "undecided" in reason and "more held-out queries would decide it" in reason
    after = aws["ssm"].get_parameter(Name=PARAMETER)["Parameter"]
    assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])
    report = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=output["report"]["report_key"])["Body"].read()
    )
    difference = report["comparisons"]["distilled_vs_baseline"]["mean_score"]
    assert difference["verdict"] == "undecided" and difference["n"] == COUNT
    assert len(messages) == 1 and reason in messages[0] and "undecided" in messages[0]


def test_a_judge_that_cannot_start_is_reported_not_fatal(aws) -> None:
    status, output, entered, _ = execute(
        aws,
        distilled=exact,
        judge=True,
        bedrock=offline_bedrock(
            aws["s3"], failures={"CreateEvaluationJob": ("AccessDeniedException", "no judge access")}
        ),
    )
    assert status == "SUCCEEDED", entered
    assert "JudgeNotAvailable" in entered
    assert output["judge"]["status"] == "Failed" and "AccessDeniedException" in output["judge"]["cause"]
    report = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=output["report"]["report_key"])["Body"].read()
    )
    assert report["judge"]["status"] == "Failed"
    assert active_model(aws)["model_id"] == DEPLOYMENT_ARN


def test_a_failing_step_notifies_and_fails_the_run(aws) -> None:
    status, _, entered, messages = execute(
        aws, distilled=exact, judge=False, holdout_key="runs/run-1/dataset/missing.jsonl"
    )
    assert status == "FAILED"
    assert entered[-3:] == ["EvaluateFailed", "NotifyFailure", "Failed"]
    assert messages and '"step":"Evaluate"' in messages[0] and "does not exist" in messages[0]
    assert active_model(aws)["run_id"] == "run-0"
