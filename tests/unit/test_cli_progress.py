"""Pure parts of the operator CLI: progress from an execution history, its rendering,
error explanations, the signed router request, run ids and clean-up name matching."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, NoCredentialsError
from rich.console import Console

from cdk_app.config import AppConfig
from cdk_app.operator.cleanup import is_project_resource
from cdk_app.operator.console import format_duration
from cdk_app.operator.errors import OperatorError, explain_error
from cdk_app.operator.executions import execution_arn, new_run_id, validate_run_id
from cdk_app.operator.progress import MapProgress, apply_map_run, progress_from, short_cause
from cdk_app.operator.progress_view import render_progress
from cdk_app.operator.router_client import build_route_request

START = datetime(2025, 11, 25, 10, 0, tzinfo=UTC)


def entered(name: str, kind: str = "Task") -> dict:
    return {"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def exited(name: str, output: dict | None = None, kind: str = "Task") -> dict:
    return {
        "type": f"{kind}StateExited",
        "stateExitedEventDetails": {"name": name, "output": json.dumps(output or {})},
    }


def iteration(name: str, outcome: str = "Succeeded") -> list[dict]:
    return [
        {"type": "MapIterationStarted", "mapIterationStartedEventDetails": {"name": name}},
        entered("GenerateBatch"),
        exited("GenerateBatch", {"count": 25}),
        {"type": f"MapIteration{outcome}", f"mapIteration{outcome}EventDetails": {"name": name}},
    ]


def execution(status: str = "RUNNING", **extra) -> dict:
    return {"status": status, "startDate": START, **extra}


STATE = {
    "run": {"run_id": "r1", "bucket": "b", "warnings": []},
    "dataset": {"train_count": 9900, "holdout_count": 100},
}


def test_generation_progress_while_the_map_runs() -> None:
    events = [
        {"type": "ExecutionStarted"},
        entered("Plan"),
        exited("Plan", {"run": STATE["run"]}),
        {"type": "MapStateEntered", "stateEnteredEventDetails": {"name": "Generate"}},
        {"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": 440}},
        *[event for _ in range(300) for event in iteration("Generate")],
        *iteration("Generate", "Failed"),
        {"type": "MapIterationStarted", "mapIterationStartedEventDetails": {"name": "Generate"}},
        entered("GenerateBatch"),
    ]
    progress = progress_from("r1", execution(), events)
    assert progress.current_step == "Generate"  # not the state inside the Map
    (generate,) = progress.maps
    assert (generate.name, generate.total, generate.succeeded, generate.failed, generate.open) == (
        "Generate",
        440,
        300,
        1,
        True,
    )
    assert progress.section("run")["run_id"] == "r1"  # found behind 300 iterations
    # a retried failure of a running run is not reported as the run's failure
    assert progress.failed_step is None and progress.error is None


def test_steps_after_the_map_and_job_status_from_the_state() -> None:
    running = {**STATE, "distillation": {"job_name": "vsr-dev-r1-distillation", "status": "InProgress"}}
    events = [
        {"type": "MapStateEntered", "stateEnteredEventDetails": {"name": "Generate"}},
        {"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": 1}},
        *iteration("Generate"),
        {
            "type": "MapStateExited",
            "stateExitedEventDetails": {"name": "Generate", "output": json.dumps(STATE)},
        },
        entered("PrepareDataset"),
        exited("PrepareDataset", STATE),
        entered("CheckDistillation"),
        exited("CheckDistillation", running),
        entered("WaitForDistillation", "Wait"),
    ]
    progress = progress_from("r1", execution(), events)
    assert progress.current_step == "WaitForDistillation"
    assert progress.maps[0].open is False and progress.maps[0].done == 1
    assert progress.section("distillation")["status"] == "InProgress"
    assert progress.section("deployment") == {}

    screen = Console(file=io.StringIO(), width=100)
    screen.print(render_progress(progress, now=START + timedelta(hours=1, minutes=2, seconds=3)))
    text = screen.file.getvalue()
    for fragment in (
        "RUNNING",
        "elapsed 1h 02m 03s",
        "WaitForDistillation",
        "1/1 batches",
        "9,900 train / 100 held out",
        "InProgress  vsr-dev-r1-distillation",
    ):
        assert fragment in text


def test_failed_run_names_the_step_and_the_lambda_message() -> None:
    cause = json.dumps(
        {
            "errorMessage": "teacher us.amazon.nova-premier-v1:0 is not enabled in this account",
            "errorType": "ModelAccessDenied",
            "stackTrace": ["..."],
        }
    )
    events = [
        entered("Plan"),
        {
            "type": "LambdaFunctionFailed",
            "lambdaFunctionFailedEventDetails": {"error": "ModelAccessDenied", "cause": cause},
        },
        exited("Plan", {**STATE, "error": {"Error": "ModelAccessDenied", "Cause": cause}}),
        entered("NotifyFailure"),
        exited("NotifyFailure", {**STATE, "error": {"Error": "ModelAccessDenied", "Cause": cause}}),
        entered("Failed", "Fail"),
        {
            "type": "ExecutionFailed",
            "executionFailedEventDetails": {"error": "PipelineFailed", "cause": "see SNS"},
        },
    ]
    progress = progress_from(
        "r1", execution("FAILED", stopDate=START + timedelta(seconds=5), error="PipelineFailed"), events
    )
    assert progress.finished
    assert progress.failed_step == "Plan"
    assert progress.error == "ModelAccessDenied"
    assert progress.cause == "teacher us.amazon.nova-premier-v1:0 is not enabled in this account"
    assert progress.elapsed() == timedelta(seconds=5)


def test_timed_out_run_blames_the_current_step() -> None:
    events = [entered("WaitForDistillation", "Wait")]
    progress = progress_from("r1", execution("TIMED_OUT", stopDate=START, error="States.Timeout"), events)
    assert (progress.failed_step, progress.error) == ("WaitForDistillation", "States.Timeout")


def test_distributed_map_counts_come_from_describe_map_run() -> None:
    item = MapProgress(name="Generate", map_run_arn="arn:aws:states:us-east-1:1:mapRun:x")
    apply_map_run(
        item, {"itemCounts": {"total": 400, "succeeded": 120, "failed": 2, "aborted": 1, "timedOut": 0}}
    )
    assert (item.total, item.succeeded, item.failed) == (400, 120, 3)


def test_short_cause() -> None:
    assert short_cause(None) is None
    assert short_cause("plain\n  text") == "plain text"
    assert short_cause(json.dumps({"errorMessage": "boom"})) == "boom"
    assert len(short_cause("x" * 1000)) == 300


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (NoCredentialsError(), "no AWS credentials found"),
        (
            ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "x"}}, "ListExecutions"),
            "have expired",
        ),
        (
            ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StartExecution"),
            "access denied calling StartExecution in eu-west-1: no",
        ),
        (
            ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "GetParameter"),
            "GetParameter failed in eu-west-1: ValidationException: bad",
        ),
    ],
)
def test_explain_error(exc: Exception, fragment: str) -> None:
    message = explain_error(exc, "eu-west-1")
    assert message is not None and fragment in message and "\n" not in message


def test_explain_error_leaves_other_exceptions_alone() -> None:
    assert explain_error(ValueError("x"), "us-east-1") is None


def test_route_request_signed_for_execute_api_with_session_token() -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret", "session-token").get_frozen_credentials()
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/route"
    request = build_route_request(url, "sunset over mountains", region="eu-west-1", credentials=credentials)
    headers = {key.lower(): value for key, value in request.header_items()}
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["authorization"]
    assert "host" in headers["authorization"].split("SignedHeaders=")[1]
    assert headers["x-amz-security-token"] == "session-token"


def test_route_request_with_api_key_is_not_signed() -> None:
    request = build_route_request(
        "https://x/route", "q", region="us-east-1", credentials=None, api_key="k123"
    )
    headers = {key.lower(): value for key, value in request.header_items()}
    assert headers["x-api-key"] == "k123" and "authorization" not in headers


def test_run_ids() -> None:
    run_id = new_run_id(datetime(2025, 6, 1, 12, 30, 5, tzinfo=UTC))
    assert run_id.startswith("20250601-123005-") and validate_run_id(run_id) == run_id
    assert validate_run_id("Nightly_2025-06-01") == "Nightly_2025-06-01"
    for bad in ("-lead", "x" * 81, "", "has space", "a/b", "run.1"):
        with pytest.raises(OperatorError, match="invalid run id"):
            validate_run_id(bad)
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:vsr-dev-pipeline"
    assert (
        execution_arn(machine, "r1") == "arn:aws:states:us-east-1:123456789012:execution:vsr-dev-pipeline:r1"
    )


def test_project_resource_names() -> None:
    config = AppConfig(project_name="vsr", stage="dev")
    assert is_project_resource("vsr-dev-20250601-123005-ab12", config)
    assert is_project_resource("vsr-dev-20250601-123005-ab12-distillation", config)
    for foreign in ("vsr-devx-run", "vsr-prod-run", "other-vsr-dev-run", "vsr-dev"):
        assert not is_project_resource(foreign, config)


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(minutes=3, seconds=4)) == "3m 04s"
    assert format_duration(timedelta(hours=26, seconds=1)) == "26h 00m 01s"
