"""Create and check the on-demand deployment of the run's distilled model.

The deployment is named from the run id and created with an idempotency token, and
Create looks it up by name first: a retried or resumed step reuses it. Check loops on
Creating, carries the deployment ARN on when Active (the evaluation and the router
invoke the deployment ARN, not the custom model ARN), and ends the run with
DeploymentFailed (Bedrock's message) or DeploymentTimedOut.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..errors import DeploymentFailed, DeploymentTimedOut, DistillationFailed
from ..state import CheckDeploymentEvent, CreateDeploymentEvent, DeploymentState, RunState
from .bedrock import create_deployment, ensure, find_deployment, get_deployment
from .names import run_names, run_tags
from .planning import POLL_BUDGETS
from .settings import PipelineSettings


def deployment_request(
    run: RunState, model_arn: str, settings: PipelineSettings, name: str, token: str
) -> dict[str, Any]:
    return {
        "modelDeploymentName": name,
        "modelArn": model_arn,
        "description": f"{settings.prefix} distilled router model, run {run.run_id}",
        "tags": run_tags(settings, run.run_id),
        "clientRequestToken": token,
    }


def _deadline(run: RunState, started: datetime) -> str:
    return (started + timedelta(minutes=run.settings.deadlines.deployment_minutes)).isoformat()


def _state(deployment: dict[str, Any], deadline: str, polls: int) -> dict[str, Any]:
    status = str(deployment.get("status", "Creating"))
    arn = str(deployment["customModelDeploymentArn"])
    name = str(deployment.get("modelDeploymentName", ""))
    if status == "Failed":
        raise DeploymentFailed(
            f"deployment {name} ({arn}) failed: {deployment.get('failureMessage') or 'Bedrock gave no message'}; "
            f"delete it (aws bedrock delete-custom-model-deployment --custom-model-deployment-identifier {arn}) "
            "before resuming the run"
        )
    return DeploymentState(
        deployment_arn=arn, deployment_name=name, status=status, deadline=deadline, polls=polls
    ).model_dump()


def create_run_deployment(
    event: CreateDeploymentEvent, *, settings: PipelineSettings, bedrock: Any, now: datetime
) -> dict[str, Any]:
    """Create the run's deployment, or reuse the one that exists; returns `$.deployment`."""
    run, distillation = event.run, event.distillation
    if not distillation.custom_model_arn:
        raise DistillationFailed(
            f"job {distillation.job_name} has no custom model to deploy ({distillation.status})"
        )
    names = run_names(settings.prefix, run.run_id)
    request = deployment_request(
        run, distillation.custom_model_arn, settings, names.deployment_name, names.deployment_token
    )
    found = ensure(
        lambda: find_deployment(bedrock, names.deployment_name), lambda: create_deployment(bedrock, request)
    )
    existing = found.existing
    if existing is None:
        return DeploymentState(
            deployment_arn=str(found.created_arn),
            deployment_name=names.deployment_name,
            status="Creating",
            deadline=_deadline(run, now),
        ).model_dump()
    started = existing.get("createdAt") or now
    return _state(existing, _deadline(run, started), polls=0)


def check_run_deployment(event: CheckDeploymentEvent, *, bedrock: Any, now: datetime) -> dict[str, Any]:
    """One poll of the deployment; returns `$.deployment` or raises a named error."""
    current = event.deployment
    state = _state(get_deployment(bedrock, current.deployment_arn), current.deadline, current.polls + 1)
    if state["status"] != "Active" and (
        now >= datetime.fromisoformat(current.deadline) or state["polls"] >= POLL_BUDGETS["deployment"]
    ):
        raise DeploymentTimedOut(
            f"deployment {current.deployment_name} is still {state['status']} after {state['polls']} polls "
            f"(deadline {current.deadline}, deployment_deadline_minutes "
            f"{event.run.settings.deadlines.deployment_minutes}). A resumed run counts the deadline from the "
            "deployment's creation: once it is Active, or after raising deployment_deadline_minutes, resume "
            f'the run with {{"run_id": "{event.run.run_id}"}}'
        )
    return state
