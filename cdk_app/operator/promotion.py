"""Promote a run's distilled model, or roll back: the checks before, and the active-model parameter.

Reading, promoting and rolling back go through routing.evaluation.promotion, the same code as
the pipeline's Promote step, so a manual promotion writes exactly what an automatic one does.
Each function takes its client (SSM, Bedrock) and the parameter's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routing import errors as routing_errors
from routing.active_model import ActiveModel, LocalModelRef
from routing.evaluation import promotion
from routing.evaluation.promotion import read_active_model

from cdk_app.operator.errors import NothingToRollBack, PromotionRefused


@dataclass(frozen=True)
class Promotion:
    before: ActiveModel
    after: ActiveModel
    parameter: str
    changed: bool = True


def distilled_model_id(report: Mapping[str, Any]) -> str | None:
    for model in report.get("models", []):
        if isinstance(model, dict) and model.get("candidate") == "distilled":
            value = model.get("model_id")
            return value if isinstance(value, str) and value else None
    return None


def deployment_status(bedrock: Any, deployment_arn: str) -> str:
    return str(bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn)["status"])


def promotion_candidate(bedrock: Any, run_id: str, report: Mapping[str, Any], force: bool = False) -> str:
    """The deployment ARN a run's report would promote, after the checks; `PromotionRefused` says why not."""
    if report.get("offline_stand_in"):
        raise PromotionRefused(
            f"run {run_id} is a local dry run (offline stand-in): there is no model to promote"
        )
    model_id = distilled_model_id(report)
    if not model_id:
        raise PromotionRefused(f"the report of run {run_id} names no distilled model")
    gate = report.get("gate", {})
    if not gate.get("passed") and not force:
        reasons = "; ".join(gate.get("reasons", [])) or "no reason recorded"
        raise PromotionRefused(
            f"run {run_id} did not pass the quality gate ({reasons}): add --force to promote anyway"
        )
    status = deployment_status(bedrock, model_id)
    if status != "Active":
        raise PromotionRefused(f"the deployment of run {run_id} is {status}, not Active: it cannot serve")
    return model_id


def promote(
    ssm: Any,
    parameter: str,
    run_id: str,
    model_id: str,
    local_model: LocalModelRef | None = None,
    by: Callable[[], str] | None = None,
) -> Promotion:
    """Promote, with the run's tier-0 model when its report calibrated one (`promotion.local_model_of`);
    idempotent: promoting the active run again changes nothing. Over a running rollout (which it ends)
    the change is recorded as `by()` ("cli:<caller ARN>", asked only then)."""
    before = read_active_model(ssm, parameter)
    who = by() if by is not None and before.rollout is not None else None
    result = promotion.promote_run(ssm, parameter, model_id, run_id, local_model=local_model, by=who)
    return Promotion(before, read_active_model(ssm, parameter), parameter, result.changed)


def rollback(ssm: Any, parameter: str, by: Callable[[], str] | None = None) -> Promotion:
    """Serve the value before the last promotion again; `NothingToRollBack` when there is none. Over a
    running rollout (which it ends) the change is recorded as `by()` ("cli:<caller ARN>", asked only then)."""
    before = read_active_model(ssm, parameter)
    who = by() if by is not None and before.rollout is not None else None
    try:
        after = promotion.rollback(ssm, parameter, by=who)
    except routing_errors.NothingToRollBack:
        raise NothingToRollBack(
            "nothing to roll back to: the active model has no previous value "
            f"(the router serves {before.model_id or 'the configured default'})"
        ) from None
    return Promotion(before, after, parameter)
