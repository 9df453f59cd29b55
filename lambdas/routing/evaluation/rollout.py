"""Rollout of a candidate model on live traffic: start, change the share, finish, abort (docs/rollout.md).

Each function reads the active-model parameter, applies one pure transition of
`routing.active_model` (`rollout_started`, `rollout_percent_set`, `rollout_finished`,
`rollout_aborted`) and writes the result, recording who did it in `change.by`
("run:<run_id>", "cli:<caller ARN>", "alarm:<alarm name>", "schedule:<rule name>").
SSM keeps every earlier value (GetParameterHistory), so the parameter's history is the
rollout's audit trail (`parameter_history`).

Every function is idempotent: a change that is already in place writes nothing and says so
(`RolloutChange.changed` false), so a retried step or a repeated alarm event changes nothing.
Aborting with no rollout is such a no-op (the controller may see an alarm after an operator's
abort); changing the share or finishing with no rollout raises `NoRollout`.

Used by the Promote step (a passing gate may start a rollout: `promotion.promote_step`), the rollout
controller (`rollout_control`) and the operator CLI (`vsr promote --shadow/--canary`, `vsr rollout`).
Reads and writes through `promotion.read_active_model`/`write_active_model`: one codec for the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..active_model import (
    ActiveModel,
    AutoFinish,
    LocalModelRef,
    Rollout,
    parse_active_model,
    rollout_aborted,
    rollout_finished,
    rollout_percent_set,
    rollout_started,
)
from ..errors import NoRollout, RolloutRefused
from .promotion import read_active_model, write_active_model


@dataclass(frozen=True)
class RolloutChange:
    """One rollout action on the parameter: the value before and after, and whether anything was written."""

    action: str  # "start", "percent", "finish" or "abort"
    before: ActiveModel
    after: ActiveModel
    changed: bool

    def summary(self) -> dict[str, Any]:
        """The facts a log line, a notification or `$.promotion` carries."""
        rollout = self.after.rollout or self.before.rollout
        return {
            "action": self.action,
            "changed": self.changed,
            "model_id": self.after.model_id,
            "candidate_model_id": rollout.model_id if rollout else None,
            "mode": rollout.mode if rollout else None,
            "percent": self.after.rollout.percent if self.after.rollout else None,
            "by": self.after.change.by if self.changed and self.after.change else None,
        }


def start_rollout(
    ssm: Any,
    parameter_name: str,
    *,
    model_id: str,
    run_id: str | None,
    mode: str,
    percent: float,
    by: str,
    auto_finish_after: AutoFinish | None = None,
    local_model: LocalModelRef | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> RolloutChange:
    """Watch `model_id` in `mode` for `percent` % of queries (any rollout it replaces ends).

    Unchanged when this candidate already runs in this mode at this share; `RolloutRefused` when the
    candidate is already the active model or the mode or share is out of range.
    """
    current = read_active_model(ssm, parameter_name)
    running = current.rollout
    if running is not None and (running.model_id, running.run_id, running.mode, running.percent) == (
        model_id,
        run_id,
        mode,
        float(percent),
    ):
        return RolloutChange("start", current, current, changed=False)
    try:
        after = rollout_started(
            current,
            model_id=model_id,
            run_id=run_id,
            mode=mode,
            percent=percent,
            auto_finish_after=auto_finish_after,
            local_model=local_model,
            by=by,
            now=now,
            reason=reason,
        )
    except ValueError as exc:
        raise RolloutRefused(str(exc)) from None
    return _written(ssm, parameter_name, "start", current, after)


def set_rollout_percent(
    ssm: Any, parameter_name: str, percent: float, *, by: str, now: datetime | None = None
) -> RolloutChange:
    """Move the running rollout's share to `percent`; `NoRollout` when none runs."""
    current = _with_rollout(ssm, parameter_name, "change its share")
    assert current.rollout is not None
    if current.rollout.percent == percent:
        return RolloutChange("percent", current, current, changed=False)
    try:
        after = rollout_percent_set(current, percent, by=by, now=now)
    except ValueError as exc:
        raise RolloutRefused(str(exc)) from None
    return _written(ssm, parameter_name, "percent", current, after)


def finish_rollout(
    ssm: Any,
    parameter_name: str,
    *,
    by: str,
    reason: str | None = None,
    now: datetime | None = None,
    expected: Rollout | None = None,
) -> RolloutChange:
    """Promote the rollout's candidate (the active model kept as `previous`); `NoRollout` when none runs.

    With `expected` (the rollout a caller checked before deciding to finish it), a parameter that now
    holds another rollout is left alone (`changed` false): a rollout started in between is not promoted
    unwatched.
    """
    current = _with_rollout(ssm, parameter_name, "finish it")
    if expected is not None and current.rollout != expected:
        return RolloutChange("finish", current, current, changed=False)
    after = rollout_finished(current, by=by, now=now, reason=reason)
    return _written(ssm, parameter_name, "finish", current, after)


def abort_rollout(
    ssm: Any,
    parameter_name: str,
    *,
    by: str,
    reason: str | None = None,
    now: datetime | None = None,
    expected: Rollout | None = None,
) -> RolloutChange:
    """End the rollout, the active model serving alone; unchanged (not an error) when none runs, or when
    `expected` is given and another rollout runs now (it was not the one checked)."""
    current = read_active_model(ssm, parameter_name)
    if current.rollout is None or (expected is not None and current.rollout != expected):
        return RolloutChange("abort", current, current, changed=False)
    after = rollout_aborted(current, by=by, now=now, reason=reason)
    return _written(ssm, parameter_name, "abort", current, after)


def _written(
    ssm: Any, parameter_name: str, action: str, before: ActiveModel, after: ActiveModel
) -> RolloutChange:
    write_active_model(ssm, parameter_name, after)
    return RolloutChange(action, before, after, changed=True)


def _with_rollout(ssm: Any, parameter_name: str, what: str) -> ActiveModel:
    current = read_active_model(ssm, parameter_name)
    if current.rollout is None:
        raise NoRollout(f"no rollout is running on {parameter_name}: nothing to {what}")
    return current


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier value of the parameter: its SSM version and modification time, and the value."""

    version: int
    modified: datetime | None
    value: ActiveModel


def parameter_history(ssm: Any, parameter_name: str) -> list[HistoryEntry]:
    """Every stored value of the parameter, oldest first (GetParameterHistory; empty when it does not exist)."""
    pages = ssm.get_paginator("get_parameter_history").paginate(Name=parameter_name, MaxResults=50)
    try:
        items = [item for page in pages for item in page.get("Parameters", [])]
    except ssm.exceptions.ParameterNotFound:
        return []
    entries = [
        HistoryEntry(
            int(item.get("Version", 0)), item.get("LastModifiedDate"), parse_active_model(item.get("Value"))
        )
        for item in items
    ]
    return sorted(entries, key=lambda entry: entry.version)
