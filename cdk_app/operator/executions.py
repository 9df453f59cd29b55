"""Runs as Step Functions executions: run ids, start, describe, list, and an execution's history.

One execution of the pipeline's state machine is one run; the execution name is the run id.
Each function takes its Step Functions client; `cdk_app.operator.progress` reads the history.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from routing.pipeline.names import RUN_ID_PATTERN

from cdk_app.operator.errors import OperatorError, RunNotFound

LATEST = "latest"  # the run reference that names the newest run


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    started: datetime
    stopped: datetime | None
    execution_arn: str

    def duration(self, now: datetime | None = None) -> timedelta:
        return (self.stopped or now or datetime.now(UTC)) - self.started


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique, name-safe run id: 20250101-120000-1a2b."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def validate_run_id(run_id: str) -> str:
    """The pipeline's own rule (Plan refuses anything else): the run id names S3 prefixes and Bedrock jobs."""
    if not RUN_ID_PATTERN.match(run_id):
        raise OperatorError(
            f"invalid run id {run_id!r}: 1 to 80 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return run_id


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """arn:...:stateMachine:<name> -> arn:...:execution:<name>:<run_id>."""
    head, sep, name = state_machine_arn.rpartition(":stateMachine:")
    if not sep:
        raise OperatorError(f"{state_machine_arn!r} is not a state machine ARN")
    return f"{head}:execution:{name}:{run_id}"


def console_url(region: str, arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


def start_execution(sfn: Any, state_machine_arn: str, run_id: str, payload: Mapping[str, Any]) -> str:
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise OperatorError(f"a run named {run_id} already exists: choose another --run-id") from None
        raise


def describe_execution(sfn: Any, arn: str, run_id: str) -> dict[str, Any]:
    try:
        return sfn.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise RunNotFound(f"no run named {run_id}: list the runs with `vsr runs`") from None
        raise


def _summary(item: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=item["name"],
        status=item["status"],
        started=item["startDate"],
        stopped=item.get("stopDate"),
        execution_arn=item["executionArn"],
    )


def list_executions(
    sfn: Any, state_machine_arn: str, limit: int, status: str | None = None
) -> list[RunSummary]:
    """The most recent runs first (Step Functions lists newest first)."""
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn}
    if status:
        kwargs["statusFilter"] = status
    runs: list[RunSummary] = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        runs.extend(_summary(item) for item in page["executions"])
        if len(runs) >= limit:
            break
    return runs[:limit]


def execution_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, includeExecutionData=True
    ):
        events.extend(page["events"])
    return events
