"""Every log line of a run carries its run id: one whole run in moto, every step handler's records read back.

The run goes through the real definition and the thirteen real step handlers (Plan to Promote,
the judge on) with the offline Bedrock stand-in; the handlers' Powertools logger writes, at INFO,
into a buffer. A record without `run_id` is one an operator could not find by run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from routing.clients import override_clients, override_timer
from routing.observability import logger

from cdk_app.local.bedrock import offline_clients
from cdk_app.local.pipeline import ExecutionResult, LocalPipeline, load_step_handlers
from stacks.constructs.pipeline_definition import STEP_FUNCTIONS, load_definition, render
from tests.pipeline_support import BUCKET, ENVIRONMENT

pytestmark = pytest.mark.slow

# Loaded at collection: the handlers' Tracer (X-Ray SDK) opens its UDP socket at import.
HANDLERS = load_step_handlers()
RUN_ID = "run-logs-1"


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """The handlers' log records (one JSON object a line), every level from INFO up."""
    stream = io.StringIO()
    level = logger.log_level
    previous = logger.registered_handler.setStream(stream)
    logger.setLevel("INFO")
    try:
        yield stream
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(previous)


def whole_run() -> tuple[ExecutionResult, list[dict]]:
    with captured_logs() as stream, LocalPipeline(HANDLERS, environment=ENVIRONMENT) as local:
        local.create_bucket(BUCKET)
        topic = local.create_topic()
        bedrock = offline_clients(s3=local.s3, region=local.region, account=local.account_id)
        with override_clients(bedrock), override_timer(bedrock["bedrock-runtime"].timer):
            result = local.run(
                render(load_definition(), local.substitutions(topic, prefix="vsr-test")),
                {"examples": 150, "holdout": 30, "judge": True,
                 "wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0}},
                name=RUN_ID,
            )  # fmt: skip
    return result, [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_log_line_of_a_run_carries_its_run_id() -> None:
    result, records = whole_run()
    assert result.status == "SUCCEEDED", result.cause
    assert "Promote" in result.states_entered() and "CheckJudge" in result.states_entered()
    # Every step handler logged (its outcome at least), and every record names the run.
    assert {record["function_name"] for record in records} == set(STEP_FUNCTIONS.values())
    unnamed = [record for record in records if record.get("run_id") != RUN_ID]
    assert not unnamed, unnamed[:3]
