"""The one interpreter of an execution's history: what a run is doing, as a `Progress`.

`progress_from(run_id, execution, events)` reads DescribeExecution's answer and the history
(oldest event first) of any execution of the pipeline, deployed or local: the current step,
each Map's iterations, the latest execution state ($.run, $.dataset, ...), and for a run that
ended badly the step that failed with its error and cause. `vsr watch` and the local dry run
both render what it returns. Pure: no AWS client, no rendering.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass
class MapProgress:
    """A Map state's iterations: for the generation Map, teacher batches done / total."""

    name: str
    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    open: bool = True
    map_run_arn: str | None = None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Progress:
    run_id: str
    status: str
    started: datetime
    stopped: datetime | None = None
    current_step: str | None = None
    maps: list[MapProgress] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # the latest execution state ($.run, $.dataset, ...)
    failed_step: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (self.stopped or now or datetime.now(UTC)) - self.started

    def section(self, key: str) -> dict[str, Any]:
        value = self.state.get(key)
        return value if isinstance(value, dict) else {}


_FAILURE_EVENTS = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "MapStateFailed",
        "MapRunFailed",
        "ExecutionFailed",
        "ExecutionTimedOut",
    }
)
_EXECUTION_END = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The details of an event: `<type>EventDetails`, shared by every *StateEntered / *StateExited type."""
    kind = str(event.get("type", ""))
    for shared in ("StateEntered", "StateExited"):
        if kind.endswith(shared):
            kind = shared
    value = event.get(kind[:1].lower() + kind[1:] + "EventDetails")
    return value if isinstance(value, dict) else {}


def short_cause(cause: str | None, limit: int = 300) -> str | None:
    """A Lambda's cause is JSON with errorMessage; keep the message, on one line."""
    if not cause:
        return None
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("errorMessage") or parsed.get("Cause") or parsed.get("message") or cause)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_state(events: list[dict[str, Any]], execution: Mapping[str, Any]) -> dict[str, Any]:
    """The latest top-level execution state: the last exited state output holding `run`."""
    exited = (
        _details(event).get("output", "")
        for event in reversed(events)
        if str(event.get("type", "")).endswith("StateExited")
    )
    for text in itertools.chain([execution.get("output") or ""], exited):
        # Map iterations exit without `run`: a substring test skips them without parsing.
        if not text or '"run"' not in text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("run"), dict):
            return value
    return {}


def progress_from(run_id: str, execution: Mapping[str, Any], events: list[dict[str, Any]]) -> Progress:
    """What a run is doing, from DescribeExecution and its history (oldest event first)."""
    progress = Progress(
        run_id=run_id,
        status=execution["status"],
        started=execution["startDate"],
        stopped=execution.get("stopDate"),
    )
    maps: dict[str, MapProgress] = {}
    open_maps: list[str] = []
    last_entered: str | None = None
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered"):
            last_entered = details.get("name")
            if not open_maps:
                progress.current_step = last_entered
            if kind == "MapStateEntered" and last_entered:
                maps[last_entered] = MapProgress(name=last_entered)
                open_maps.append(last_entered)
        elif kind == "MapStateExited" and open_maps:
            maps[open_maps.pop()].open = False
        elif kind == "MapStateStarted" and open_maps:
            maps[open_maps[-1]].total = details.get("length")
        elif kind == "MapRunStarted" and open_maps:
            maps[open_maps[-1]].map_run_arn = details.get("mapRunArn")
        elif kind == "MapIterationSucceeded" and details.get("name") in maps:
            maps[details["name"]].succeeded += 1
        elif kind in {"MapIterationFailed", "MapIterationAborted"} and details.get("name") in maps:
            maps[details["name"]].failed += 1
        if kind in _FAILURE_EVENTS:
            if (
                kind not in _EXECUTION_END
            ):  # the execution ends in a Fail state: the step that failed came before
                progress.failed_step = last_entered
            progress.error = details.get("error") or progress.error
            progress.cause = short_cause(details.get("cause")) or progress.cause
    progress.maps = list(maps.values())
    progress.state = _run_state(events, execution)
    if progress.status in TERMINAL_STATUSES and progress.status != "SUCCEEDED":
        progress.failed_step = progress.failed_step or (
            progress.current_step if progress.status == "TIMED_OUT" else None
        )
        progress.error = execution.get("error") or progress.error
        progress.cause = short_cause(execution.get("cause")) or progress.cause
        caught = progress.state.get("error")
        if isinstance(caught, dict):  # the pipeline's Catch keeps the real error (and the step) under $.error
            progress.failed_step = caught.get("step") or progress.failed_step
            progress.error = caught.get("Error") or progress.error
            progress.cause = short_cause(caught.get("Cause")) or progress.cause
    else:
        progress.failed_step = progress.error = progress.cause = None
    return progress


def apply_map_run(progress_map: MapProgress, description: Mapping[str, Any]) -> None:
    """Fill a distributed Map's counts from DescribeMapRun."""
    counts = description.get("itemCounts", {})
    progress_map.total = counts.get("total", progress_map.total)
    progress_map.succeeded = counts.get("succeeded", progress_map.succeeded)
    progress_map.failed = counts.get("failed", 0) + counts.get("aborted", 0) + counts.get("timedOut", 0)
