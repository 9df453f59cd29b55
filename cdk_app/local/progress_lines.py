"""The dry run's progress lines: an execution's history, as `vsr watch` reads it, one labelled line a change.

Every line starts with "OFFLINE STAND-IN": what the dry run prints is the offline stand-in's
simulation, never a model result. The history is read by the CLI's interpreter of an execution
history (`progress_from`), so the dry run and `vsr watch` agree on the current step, the
generation Map's batch counts, the execution state each step wrote and how a run ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from cdk_app.operator.progress import MapProgress, Progress, progress_from

__all__ = ["LABEL", "Emit", "ProgressLines", "rich_progress"]

LABEL = "OFFLINE STAND-IN"
# Choice and Wait states are bookkeeping: the progress shows the steps that do work.
_QUIET_TYPES = frozenset({"ChoiceStateEntered", "WaitStateEntered"})
# Events that change no progress line: not worth a reading of the history.
_UNREAD_TYPES = frozenset(
    {
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "MapIterationStarted",
        "PassStateExited",
        "ChoiceStateExited",
    }
)
_EXECUTION_ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
# Poll steps: their line comes when they exit, with the status they read.
_POLLS = frozenset({"CheckDistillation", "CheckDeployment", "CheckJudge"})

Emit = Callable[[str], None]


class ProgressLines:
    """The execution's history events as progress lines, each labelled OFFLINE STAND-IN.

    Each event is read through the CLI's interpreter of an execution history
    (`progress_from`, what `vsr watch` renders): the current step, the Map's batch counts, the
    latest execution state and how the run ended are its reading, not a second one. This class
    only decides which changes make a line: a step entered (not Choice or Wait states, not the
    polls, which report the status they read when they exit), a Map's size and every tenth of its
    batches, what a task wrote, and the end.
    """

    def __init__(self, emit: Emit, started: float, run_id: str = "") -> None:
        self._emit = emit
        self._started = started
        self._run_id = run_id
        self._events: list[dict[str, Any]] = []
        self._step: str | None = None

    def line(self, text: str) -> None:
        self._emit(f"{LABEL} | {time.monotonic() - self._started:6.1f}s | {text}")

    def __call__(self, event: Mapping[str, Any]) -> None:
        self._events.append(dict(event))
        kind = str(event.get("type", ""))
        if kind in _QUIET_TYPES or kind in _UNREAD_TYPES:
            return
        progress = progress_from(self._run_id, self._execution(), self._events)
        if kind == "ExecutionStarted":
            self.line("execution started")
        elif kind.endswith("StateEntered"):
            self._entered(kind, progress)
        elif kind == "MapStateStarted" and progress.maps:
            self.line(f"{progress.maps[-1].name}: {progress.maps[-1].total} teacher batches (Map)")
        elif kind.startswith("MapIteration") and progress.maps:
            self._iteration(kind, progress.maps[-1])
        elif kind == "TaskStateExited":
            name = str((event.get("stateExitedEventDetails") or {}).get("name", ""))
            text = _task_summary(name, progress.state)
            if text:
                self.line(f"{name}: {text}")
        elif progress.finished:
            ending = f"execution {progress.status}"
            self.line(ending if progress.status == "SUCCEEDED" else f"{ending}: {progress.error or ''}")

    def _execution(self) -> dict[str, Any]:
        """DescribeExecution's part the interpreter reads, from the history seen so far."""
        first = self._events[0]
        execution: dict[str, Any] = {
            "status": "RUNNING",
            "startDate": first.get("timestamp") or datetime.now(UTC),
        }
        last = self._events[-1]
        status = _EXECUTION_ENDS.get(str(last.get("type", "")))
        if status is not None:
            details = next((value for key, value in last.items() if key.endswith("EventDetails")), None) or {}
            execution.update(status=status, stopDate=last.get("timestamp"), error=details.get("error"))
            execution["cause"] = details.get("cause")
        return execution

    def _entered(self, kind: str, progress: Progress) -> None:
        step = progress.current_step
        if step == self._step or step in _POLLS or kind == "MapStateEntered":
            # Inside a Map the step stays the Map; polls report on exit; a Map reports its size.
            self._step = step
            return
        self._step = step
        self.line(f"{step} (the run failed)" if kind == "FailStateEntered" else str(step))

    def _iteration(self, kind: str, batches: MapProgress) -> None:
        if kind == "MapIterationFailed":
            self.line(f"{batches.name}: a batch failed")
        elif kind == "MapIterationSucceeded":
            total = batches.total or 0
            step = max(1, total // 10)
            if batches.succeeded == total or batches.succeeded % step == 0:
                self.line(f"{batches.name}: {batches.succeeded}/{total} batches done")


def _task_summary(name: str, state: Mapping[str, Any]) -> str | None:
    """One line about what a task produced, read from the execution state it wrote."""
    run = state.get("run") or {}
    if name == "Plan":
        settings = run.get("settings") or {}
        warnings = run.get("warnings") or []
        text = (
            f"run {run.get('run_id')}: {settings.get('examples')} examples ({settings.get('holdout')} held out), "
            f"teacher {settings.get('teacher_model_id')}, student {settings.get('student_model_id')}"
        )
        return text + "".join(f"; warning: {warning}" for warning in warnings)
    if name == "PrepareDataset":
        dataset = state.get("dataset") or {}
        return f"{dataset.get('train_count')} training records, {dataset.get('holdout_count')} held out"
    if name in {"TrainLocalModel", "LocalModelNotTrained"}:
        local = state.get("local_model") or {}
        if not local.get("trained"):
            return f"tier-0 local model not trained: {local.get('error')}"
        return f"tier-0 local model: {local.get('examples')} examples, {local.get('seconds')} s"
    if name in {"StartDistillation", "CheckDistillation"}:
        job = state.get("distillation") or {}
        return f"job {job.get('job_name')} {job.get('status')}"
    if name in {"CreateDeployment", "CheckDeployment"}:
        deployment = state.get("deployment") or {}
        return f"deployment {deployment.get('deployment_name')} {deployment.get('status')}"
    if name == "Evaluate":
        evaluation = state.get("evaluation") or {}
        return f"{evaluation.get('done')}/{evaluation.get('answers')} answers"
    if name in {"StartJudge", "CheckJudge"}:
        judge = state.get("judge") or {}
        reason = f" ({judge['failure']})" if judge.get("failure") else ""
        return f"judge {judge.get('status')}{reason}"
    if name == "Report":
        gate = (state.get("report") or {}).get("gate") or {}
        verdict = "PASSED" if gate.get("passed") else "FAILED"
        reasons = "; ".join(gate.get("reasons") or [])
        return f"quality gate {verdict}" + (f": {reasons}" if reasons else "")
    if name == "Promote":
        promotion = state.get("promotion") or {}
        line = f"active model in the sandbox's (moto) parameter: {promotion.get('model_id')}"
        rollout = promotion.get("rollout")
        if isinstance(rollout, dict):
            line += f"; {rollout.get('mode')} rollout of {rollout.get('model_id')} for {rollout.get('percent'):g} %"
        return line
    return None


def rich_progress(console: Console) -> Emit:
    def emit(line: str) -> None:
        label, _, rest = line.partition(" | ")
        console.print(
            f"[bold black on yellow]{escape(label)}[/] {escape(rest)}", highlight=False, soft_wrap=True
        )

    return emit
