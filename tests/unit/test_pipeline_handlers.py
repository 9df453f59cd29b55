"""The step handlers: thin, typed at the edge, clients through the seam, run id on every log line."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from routing.clients import client, now, override_clients, override_clock
from routing.errors import InvalidEvent
from routing.observability import logger

from cdk_app.local.pipeline import LocalLambdaContext, load_step_handlers
from stacks.constructs.pipeline_definition import STEP_FUNCTIONS
from tests.pipeline_support import ENVIRONMENT, run_state, stubbed

HANDLERS = load_step_handlers()
JOB_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/abcdef123456"
)


def context(name: str) -> LocalLambdaContext:
    return LocalLambdaContext(name, f"arn:aws:lambda:us-east-1:123456789012:function:{name}", "request-1")


def test_every_step_has_a_handler() -> None:
    assert set(HANDLERS) == set(STEP_FUNCTIONS.values())


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
@pytest.mark.parametrize("name", sorted(STEP_FUNCTIONS.values()))
def test_a_malformed_payload_is_a_named_error(name: str, monkeypatch) -> None:
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InvalidEvent):
        HANDLERS[name]({"unexpected": True}, context(name))


def test_a_check_logs_with_the_run_id_and_returns_the_state() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response(
        "get_model_customization_job",
        {
            "jobArn": JOB_ARN,
            "jobName": "vsr-test-run-1-distillation",
            "outputModelName": "vsr-test-run-1",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "status": "InProgress",
            "creationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
            "trainingDataConfig": {"s3Uri": "s3://b/k"},
            "validationDataConfig": {"validators": []},
            "outputDataConfig": {"s3Uri": "s3://b/o/"},
        },
        {"jobIdentifier": JOB_ARN},
    )
    deadline = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    event = {
        "run": run_state().model_dump(mode="json"),
        "distillation": {
            "job_arn": JOB_ARN,
            "job_name": "j",
            "status": "InProgress",
            "deadline": deadline,
            "polls": 2,
        },
        "generation": {"batches": 3},  # other keys of the state are ignored
    }
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        with override_clients({"bedrock": bedrock}):
            result = HANDLERS["check_distillation"](event, context("check_distillation"))
    finally:
        logger.registered_handler.setStream(previous)
    assert result["status"] == "InProgress" and result["polls"] == 3
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all(
        line["run_id"] == "run-1" and line["function_name"] == "check_distillation" for line in lines
    )


def test_the_seams_restore_what_they_replaced() -> None:
    marker = object()
    fixed = datetime(2030, 1, 1, tzinfo=UTC)
    with override_clients({"bedrock": marker}), override_clock(lambda: fixed):
        assert client("bedrock") is marker and now() == fixed
    assert client("bedrock") is not marker and now() != fixed
