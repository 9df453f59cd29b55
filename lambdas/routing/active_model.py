"""The active-model parameter value (a public contract), read and written in one place.

The SSM parameter holds a JSON string:
`{"model_id": <deployment ARN or model id>, "run_id": ..., "promoted_at": ..., "previous": {...},
"local_model": {...}, "rollout": {...}, "change": {...}}` (the last three optional).

- `previous` is the value before the last promotion (without its own `previous`), so one step
  rolls back.
- `local_model` is the tier-0 model promoted together with `model_id` (`LocalModelRef`: where its
  artifact lives and the confidence threshold calibrated for it).
- `rollout` is a candidate being watched on live traffic (`Rollout`): in `shadow` mode the router
  also asks it for `percent` % of queries and serves the active model's answer; in `canary` mode it
  serves `percent` % of queries with it (chosen by a stable hash of the normalised query).
- `change` says who or what wrote this value, when, and why (`Change`); SSM's parameter history
  keeps every earlier value, so the history of a rollout is the history of the parameter.

A missing, empty or unreadable value means "use the configured default"; a malformed
`rollout` or `local_model` is ignored (the router serves the active model alone), never an error.
The transitions (`promoted`, `rolled_back`, `rollout_started`, `rollout_percent_set`,
`rollout_finished`, `rollout_aborted`) are pure functions of the current value: the pipeline's
Promote step, the CLI and the rollout controller all write through them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .contract import encodable_text

ROLLOUT_MODES = ("shadow", "canary")

# Who wrote a value: `Change.by` is "<actor>:<detail>", the actor one of these.
ACTOR_RUN = "run"  # the pipeline's Promote step: "run:<run_id>"
ACTOR_CLI = "cli"  # an operator: "cli:<caller identity ARN>"
ACTOR_ALARM = "alarm"  # the rollout controller on an alarm: "alarm:<alarm name>"
ACTOR_SCHEDULE = "schedule"  # the rollout controller when auto_finish_after was reached: "schedule:<rule>"

MAX_REASON_CHARS = 500


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _date(value: object) -> str | None:
    """An ISO 8601 date-time text (what `_stamp` writes), else None: the rollout's clock starts at it."""
    text = _text(value)
    if text is None:
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Change:
    """Who or what wrote a value (`by`: "<actor>:<detail>"), the action, when, and why."""

    by: str
    action: str
    at: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "action": self.action, "at": self.at, "reason": self.reason}

    @classmethod
    def parse(cls, value: object) -> Change | None:
        if not isinstance(value, dict):
            return None
        by, action, at = _text(value.get("by")), _text(value.get("action")), _text(value.get("at"))
        if by is None or action is None or at is None:
            return None
        return cls(by=by, action=action, at=at, reason=_text(value.get("reason")))


@dataclass(frozen=True, slots=True)
class LocalModelRef:
    """The tier-0 model of a run: its artifact (`s3_uri`, `sha256`) and calibrated confidence threshold."""

    s3_uri: str
    threshold: float
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"s3_uri": self.s3_uri, "threshold": self.threshold, "sha256": self.sha256}

    @classmethod
    def parse(cls, value: object) -> LocalModelRef | None:
        if not isinstance(value, dict):
            return None
        uri, threshold = _text(value.get("s3_uri")), _number(value.get("threshold"))
        if uri is None or not uri.startswith("s3://") or threshold is None:
            return None
        return cls(s3_uri=uri, threshold=threshold, sha256=_text(value.get("sha256")))


@dataclass(frozen=True, slots=True)
class AutoFinish:
    """When a rollout with no alarm ends by promoting its candidate: after this many queries or hours."""

    queries: int | None = None
    hours: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "hours": self.hours}

    @classmethod
    def parse(cls, value: object) -> AutoFinish | None:
        if not isinstance(value, dict):
            return None
        queries, hours = _number(value.get("queries")), _number(value.get("hours"))
        queries_ok = queries is not None and queries >= 1 and queries == int(queries)
        hours_ok = hours is not None and hours > 0
        if not queries_ok and not hours_ok:
            return None
        return cls(queries=int(queries) if queries_ok else None, hours=hours if hours_ok else None)


@dataclass(frozen=True, slots=True)
class Rollout:
    """A candidate watched on live traffic: `mode` shadow or canary, for `percent` (0-100) % of queries."""

    model_id: str
    run_id: str | None
    mode: str
    percent: float
    started_at: str
    auto_finish_after: AutoFinish | None = None
    local_model: LocalModelRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "run_id": self.run_id,
            "mode": self.mode,
            "percent": self.percent,
            "started_at": self.started_at,
            "auto_finish_after": self.auto_finish_after.to_dict() if self.auto_finish_after else None,
            "local_model": self.local_model.to_dict() if self.local_model else None,
        }

    @classmethod
    def parse(cls, value: object) -> Rollout | None:
        """Tolerant: anything that is not a complete, in-range rollout is None (no rollout)."""
        if not isinstance(value, dict):
            return None
        model_id, mode, started_at = (
            _text(value.get("model_id")),
            value.get("mode"),
            _date(value.get("started_at")),
        )
        percent = _number(value.get("percent"))
        if model_id is None or mode not in ROLLOUT_MODES or started_at is None:
            return None
        if percent is None or not 0.0 <= percent <= 100.0:
            return None
        return cls(
            model_id=model_id,
            run_id=_text(value.get("run_id")),
            mode=str(mode),
            percent=percent,
            started_at=started_at,
            auto_finish_after=AutoFinish.parse(value.get("auto_finish_after")),
            local_model=LocalModelRef.parse(value.get("local_model")),
        )


@dataclass(frozen=True, slots=True)
class ActiveModel:
    model_id: str | None
    run_id: str | None = None
    promoted_at: str | None = None
    previous: dict[str, Any] | None = None
    local_model: LocalModelRef | None = None
    rollout: Rollout | None = None
    change: Change | None = None

    def to_json(self) -> str:
        value: dict[str, Any] = {
            "model_id": self.model_id,
            "run_id": self.run_id,
            "promoted_at": self.promoted_at,
            "previous": self.previous,
        }
        # The optional keys are written only when set: a value without them reads as before.
        if self.local_model is not None:
            value["local_model"] = self.local_model.to_dict()
        if self.rollout is not None:
            value["rollout"] = self.rollout.to_dict()
        if self.change is not None:
            value["change"] = self.change.to_dict()
        return json.dumps(value, sort_keys=True)

    def summary(self) -> dict[str, Any]:
        """This value without its `previous`, rollout and change (what a later value keeps as `previous`)."""
        value: dict[str, Any] = {
            "model_id": self.model_id,
            "run_id": self.run_id,
            "promoted_at": self.promoted_at,
        }
        if self.local_model is not None:
            value["local_model"] = self.local_model.to_dict()
        return value


NO_ACTIVE_MODEL = ActiveModel(model_id=None)


def parse_active_model(text: object) -> ActiveModel:
    """Tolerant read: anything that is not a JSON object with a non-empty string `model_id` is NO_ACTIVE_MODEL.

    A value without a model may still carry a rollout (a candidate watched while the configured
    default serves): that is kept.
    """
    if not isinstance(text, str) or not text.strip():
        return NO_ACTIVE_MODEL
    try:
        value = json.loads(text)
    except ValueError:
        return NO_ACTIVE_MODEL
    if not isinstance(value, dict):
        return NO_ACTIVE_MODEL
    model_id = value.get("model_id")
    previous = value.get("previous")
    return ActiveModel(
        model_id=model_id if isinstance(model_id, str) and model_id.strip() else None,
        run_id=value.get("run_id") if isinstance(value.get("run_id"), str) else None,
        promoted_at=value.get("promoted_at") if isinstance(value.get("promoted_at"), str) else None,
        previous=previous if isinstance(previous, dict) else None,
        local_model=LocalModelRef.parse(value.get("local_model")),
        rollout=Rollout.parse(value.get("rollout")),
        change=Change.parse(value.get("change")),
    )


def _change(by: str | None, action: str, now: datetime | None, reason: str | None = None) -> Change | None:
    if by is None:
        return None
    # Reasons quote other systems' text (CloudWatch's alarm reason, an operator's --reason): kept encodable,
    # so the value always writes to SSM and prints.
    return Change(
        by=encodable_text(by),
        action=action,
        at=_stamp(now),
        reason=encodable_text(reason[:MAX_REASON_CHARS]) if reason else None,
    )


def promoted(
    current: ActiveModel,
    *,
    model_id: str,
    run_id: str,
    now: datetime | None = None,
    local_model: LocalModelRef | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> ActiveModel:
    """The value after promoting `model_id` of `run_id` (and its tier-0 model) over `current`; any rollout ends."""
    previous = current.summary() if current.model_id else None
    return ActiveModel(
        model_id=model_id,
        run_id=run_id,
        promoted_at=_stamp(now),
        previous=previous,
        local_model=local_model,
        change=_change(by, "promote", now, reason),
    )


def rolled_back(
    current: ActiveModel, *, by: str | None = None, now: datetime | None = None, reason: str | None = None
) -> ActiveModel | None:
    """The value after one rollback step, or None when there is nothing to roll back to; any rollout ends."""
    if not current.previous:
        return None
    prev = parse_active_model(json.dumps(current.previous))
    if prev.model_id is None:
        return None
    return ActiveModel(
        model_id=prev.model_id,
        run_id=prev.run_id,
        promoted_at=prev.promoted_at,
        previous=None,
        local_model=prev.local_model,
        change=_change(by, "rollback", now, reason),
    )


def rollout_started(
    current: ActiveModel,
    *,
    model_id: str,
    run_id: str | None,
    mode: str,
    percent: float,
    auto_finish_after: AutoFinish | None = None,
    local_model: LocalModelRef | None = None,
    by: str | None = None,
    now: datetime | None = None,
    reason: str | None = None,
) -> ActiveModel:
    """The value with `model_id` watched in `mode` for `percent` % of queries; the active model stays."""
    if mode not in ROLLOUT_MODES:
        raise ValueError(f"rollout mode must be one of {', '.join(ROLLOUT_MODES)}, not {mode!r}")
    _check_percent(percent)
    if model_id == current.model_id:
        raise ValueError(f"{model_id} is already the active model: there is nothing to roll out")
    rollout = Rollout(
        model_id=model_id,
        run_id=run_id,
        mode=mode,
        percent=float(percent),
        started_at=_stamp(now),
        auto_finish_after=auto_finish_after,
        local_model=local_model,
    )
    return replace(current, rollout=rollout, change=_change(by, f"rollout_{mode}", now, reason))


def rollout_percent_set(
    current: ActiveModel, percent: float, *, by: str | None = None, now: datetime | None = None
) -> ActiveModel:
    """The value with the running rollout's share changed; ValueError when no rollout runs."""
    rollout = _running(current)
    _check_percent(percent)
    return replace(
        current,
        rollout=replace(rollout, percent=float(percent)),
        change=_change(by, "rollout_percent", now, f"{rollout.percent:g} % -> {percent:g} %"),
    )


def rollout_finished(
    current: ActiveModel, *, by: str | None = None, now: datetime | None = None, reason: str | None = None
) -> ActiveModel:
    """The value after the rollout's candidate is promoted (the active model kept as `previous`)."""
    rollout = _running(current)
    value = promoted(
        current,
        model_id=rollout.model_id,
        run_id=rollout.run_id or "",
        now=now,
        local_model=rollout.local_model,
    )
    return replace(value, run_id=rollout.run_id, change=_change(by, "rollout_finish", now, reason))


def rollout_aborted(
    current: ActiveModel, *, by: str | None = None, now: datetime | None = None, reason: str | None = None
) -> ActiveModel:
    """The value with the rollout ended and the active model serving alone, recorded with the reason."""
    rollout = _running(current)
    why = reason or "aborted"
    return replace(
        current,
        rollout=None,
        change=_change(by, "rollout_abort", now, f"{rollout.mode} of {rollout.model_id}: {why}"),
    )


def _running(current: ActiveModel) -> Rollout:
    if current.rollout is None:
        raise ValueError("no rollout is running")
    return current.rollout


def _check_percent(percent: float) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise ValueError(f"rollout percent must be a number from 0 to 100, not {percent!r}")
