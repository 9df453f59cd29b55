"""Promotion and rollback of the model the router serves (the active-model SSM parameter).

The parameter holds the JSON value of `routing.active_model` (DESIGN's contract):
`{"model_id", "run_id", "promoted_at", "previous": {...}}`. Promotion keeps the value it
replaces as `previous`, so `rollback` returns to it in one step; the router re-reads the
parameter within its cache age (`active_model_max_age_seconds`).

Used by the Promote step (`promote_step`, after the gate passed: the Promote handler calls it; with
`promotion.on_pass` shadow or canary it starts a rollout instead, `start_rollout_step`, docs/rollout.md)
and by operators: the CLI's `promote RUN` (`promote_from_report`, refuses a run whose gate
failed unless forced) and `rollback`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..active_model import (
    ACTOR_RUN,
    NO_ACTIVE_MODEL,
    ActiveModel,
    AutoFinish,
    LocalModelRef,
    parse_active_model,
    promoted,
    rolled_back,
)
from ..errors import GateNotPassed, NothingToRollBack, ReportNotFound
from ..layout import RunLayout
from ..storage import get_text

if TYPE_CHECKING:  # the operator CLI imports this module without the steps' event models
    from ..settings import PromoteEnv
    from ..state import PromoteEvent


@dataclass(frozen=True)
class PromotionResult:
    """`$.promotion` of the state machine: what the parameter says now and what it said before."""

    promoted: bool
    model_id: str | None
    previous_model_id: str | None
    run_id: str | None
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": self.promoted,
            "model_id": self.model_id,
            "previous_model_id": self.previous_model_id,
            "run_id": self.run_id,
            "changed": self.changed,
            # A direct promotion starts no rollout; `start_rollout_step` fills it (the ASL always keeps it).
            "rollout": None,
        }


def read_active_model(ssm: Any, parameter_name: str) -> ActiveModel:
    """The parameter's value; NO_ACTIVE_MODEL when it is missing or unreadable (as the router reads it)."""
    try:
        value = ssm.get_parameter(Name=parameter_name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return NO_ACTIVE_MODEL
        raise
    return parse_active_model(value)


def write_active_model(ssm: Any, parameter_name: str, value: ActiveModel) -> None:
    ssm.put_parameter(Name=parameter_name, Value=value.to_json(), Type="String", Overwrite=True)


def promote_run(
    ssm: Any,
    parameter_name: str,
    model_id: str,
    run_id: str,
    *,
    now: datetime | None = None,
    local_model: LocalModelRef | None = None,
    by: str | None = None,
) -> PromotionResult:
    """Make `model_id` (of run `run_id`, with its tier-0 `local_model`) the active model, keeping the
    current value as `previous`.

    Idempotent: when the parameter already names this model for this run (a retried step, or
    a second manual promotion), nothing is written, so `previous` still points at the model
    before it.

    A promotion over a running rollout ends it; that change is recorded (`change.by` = `by`, the
    rollout it ended as the reason). Without a rollout a promotion writes no change record, as before.
    """
    current = read_active_model(ssm, parameter_name)
    if current.model_id == model_id and current.run_id == run_id and current.local_model == local_model:
        previous = (current.previous or {}).get("model_id")
        return PromotionResult(True, model_id, previous, run_id, changed=False)
    ended = current.rollout
    value = promoted(
        current,
        model_id=model_id,
        run_id=run_id,
        now=now,
        local_model=local_model,
        by=by if ended is not None else None,
        reason=f"ends the {ended.mode} rollout of {ended.model_id} ({ended.percent:g} %)" if ended else None,
    )
    write_active_model(ssm, parameter_name, value)
    return PromotionResult(True, model_id, current.model_id, run_id, changed=True)


def promote_step(event: PromoteEvent, *, settings: PromoteEnv, ssm: Any) -> dict[str, Any]:
    """The Promote step: write the deployment ARN to the active-model parameter, only for a run that passed the gate.

    Returns `$.promotion` (`PromotionResult.to_dict()`); `changed` is false when a retried step
    found the parameter already naming this run's model.
    """
    if not event.report.gate.passed:
        raise GateNotPassed(f"run {event.run.run_id} did not pass the quality gate: not promoting")
    policy = settings.promotion
    local_model = LocalModelRef.parse(event.report.local_model)
    if policy.on_pass != "promote":
        return start_rollout_step(event, settings=settings, ssm=ssm, local_model=local_model)
    result = promote_run(
        ssm,
        settings.parameter_name,
        event.deployment.deployment_arn,
        event.run.run_id,
        local_model=local_model,
        by=f"{ACTOR_RUN}:{event.run.run_id}",
    )
    return result.to_dict()


def start_rollout_step(
    event: PromoteEvent, *, settings: PromoteEnv, ssm: Any, local_model: LocalModelRef | None = None
) -> dict[str, Any]:
    """A passing run under `promotion.on_pass` shadow or canary: start the rollout of its deployment.

    `$.promotion` then says `promoted` false (the active model still serves) and carries `rollout`
    (mode, percent, candidate, auto_finish_after); `changed` is false when a retried step found the
    rollout already running. The rollout controller finishes or aborts it (docs/rollout.md).
    """
    from .rollout import start_rollout  # the rollout module imports this one

    policy = settings.promotion
    finish = policy.auto_finish_after
    change = start_rollout(
        ssm,
        settings.parameter_name,
        model_id=event.deployment.deployment_arn,
        run_id=event.run.run_id,
        mode=policy.on_pass,
        percent=policy.percent,
        auto_finish_after=AutoFinish(queries=finish.queries, hours=finish.hours) if finish else None,
        by=f"{ACTOR_RUN}:{event.run.run_id}",
        local_model=local_model,
        reason="the run passed the quality gate (promotion.on_pass)",
    )
    rollout = change.after.rollout
    assert rollout is not None
    return {
        "promoted": False,
        "model_id": change.after.model_id,
        "previous_model_id": None,
        "run_id": event.run.run_id,
        "changed": change.changed,
        "rollout": rollout.to_dict(),
    }


def rollback(ssm: Any, parameter_name: str, *, by: str | None = None) -> ActiveModel:
    """Return to the value before the last promotion; raise NothingToRollBack when there is none.

    Over a running rollout (which it ends) the change is recorded as `by`, naming the rollout it ended.
    """
    current = read_active_model(ssm, parameter_name)
    ended = current.rollout
    reason = f"ended the {ended.mode} rollout of {ended.model_id}" if ended is not None else None
    previous = rolled_back(current, by=by if ended is not None else None, reason=reason)
    if previous is None:
        raise NothingToRollBack(
            f"{parameter_name} has no previous model to return to "
            f"(current: {current.model_id or 'the configured default'})"
        )
    write_active_model(ssm, parameter_name, previous)
    return previous


def promotion_target(report: dict[str, Any]) -> str:
    """The distilled model (deployment ARN) a run's report evaluated."""
    for model in report.get("models", []):
        if model.get("candidate") == "distilled" and model.get("model_id"):
            return str(model["model_id"])
    raise ReportNotFound(f"report of run {report.get('run_id')} has no distilled model")


def local_model_of(report: dict[str, Any]) -> LocalModelRef | None:
    """The tier-0 model a run's report calibrated (report.json `local_model`), None without a threshold."""
    section = report.get("local_model")
    if not isinstance(section, dict) or section.get("threshold") is None:
        return None
    return LocalModelRef.parse(section)


def promote_from_report(
    s3: Any, ssm: Any, *, bucket: str, run_id: str, parameter_name: str, force: bool = False
) -> PromotionResult:
    """Manual promotion of a named run: read its report.json and promote its distilled model.

    A run whose gate failed is refused with GateNotPassed unless `force` is set (the operator
    then takes responsibility; the report still says the gate failed).
    """
    key = RunLayout(run_id).report_json_key
    text = get_text(s3, bucket, key)
    if text is None:
        raise ReportNotFound(f"no report for run {run_id!r} at s3://{bucket}/{key}")
    report = json.loads(text)
    if not report.get("gate", {}).get("passed") and not force:
        reasons = "; ".join(report.get("gate", {}).get("reasons", [])) or "unknown"
        raise GateNotPassed(
            f"run {run_id} did not pass the quality gate ({reasons}); use force to promote anyway"
        )
    if report.get("offline_stand_in") and not force:
        raise GateNotPassed(f"run {run_id} is an offline stand-in run: its model cannot serve searches")
    return promote_run(
        ssm, parameter_name, promotion_target(report), run_id, local_model=local_model_of(report)
    )
