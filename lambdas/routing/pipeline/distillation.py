"""Start and check the Bedrock model distillation job of a run.

The job and its custom model are named from the run id (routing.pipeline.names), so a
retried or resumed Start finds the job it created before and reuses it: a run never
pays for two jobs. Check reads the job's status; InProgress and Stopping loop again
(the state machine's Wait), Completed carries the custom model ARN on, Failed and
Stopped end the run with Bedrock's message, and a job still running at the deadline
(or after the poll budget) ends it with DistillationTimedOut.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..errors import DistillationFailed, DistillationStopped, DistillationTimedOut
from ..layout import s3_uri
from ..state import CheckDistillationEvent, DatasetState, DistillationState, RunState, StartDistillationEvent
from .bedrock import create_customization_job, ensure, find_customization_job, get_customization_job
from .names import RunNames, run_names, run_tags
from .planning import POLL_BUDGETS
from .settings import PipelineSettings

RUNNING = frozenset({"InProgress", "Stopping"})


def job_request(
    run: RunState, dataset: DatasetState, settings: PipelineSettings, names: RunNames
) -> dict[str, Any]:
    """The CreateModelCustomizationJob request of the run (DISTILLATION, teacher config, run-derived names)."""
    if dataset.train_key:
        training: dict[str, Any] = {"s3Uri": s3_uri(run.bucket, dataset.train_key)}
    else:
        # Distil from the router's logged prompts; the teacher answers them again, so the
        # logged answers (from whatever model served then) are not used as labels.
        training = {
            "invocationLogsConfig": {
                "usePromptResponse": False,
                "invocationLogSource": {"s3Uri": run.settings.invocation_logs_s3_uri},
                "requestMetadataFilters": {"equals": {"app": settings.router_app_tag}},
            }
        }
    return {
        "jobName": names.job_name,
        "customModelName": names.custom_model_name,
        "roleArn": settings.distillation_role_arn,
        "clientRequestToken": names.job_token,
        "baseModelIdentifier": run.settings.student_model_id,
        "customizationType": "DISTILLATION",
        "trainingDataConfig": training,
        "outputDataConfig": {"s3Uri": s3_uri(run.bucket, run.layout.distillation_output_prefix)},
        "customizationConfig": {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": run.settings.teacher_model_id,
                    "maxResponseLengthForInference": run.settings.max_response_length,
                }
            }
        },
        "jobTags": run_tags(settings, run.run_id),
        "customModelTags": run_tags(settings, run.run_id),
    }


def _deadline(run: RunState, started: datetime) -> str:
    return (started + timedelta(hours=run.settings.deadlines.job_hours)).isoformat()


def _state(job: dict[str, Any], job_arn: str, deadline: str, polls: int) -> dict[str, Any]:
    """`$.distillation` for a job Bedrock described; raises for a job that ended without a model."""
    status = str(job.get("status", "InProgress"))
    name = str(job.get("jobName", ""))
    if status == "Failed":
        raise DistillationFailed(
            f"distillation job {name} ({job_arn}) failed: {job.get('failureMessage') or 'Bedrock gave no message'}"
        )
    if status == "Stopped":
        raise DistillationStopped(
            f"distillation job {name} ({job_arn}) was stopped"
            + (f": {job['failureMessage']}" if job.get("failureMessage") else "")
            + "; start a new run to distil again"
        )
    model_arn = job.get("outputModelArn")
    if status == "Completed" and not model_arn:
        raise DistillationFailed(f"distillation job {name} ({job_arn}) completed without an output model")
    return DistillationState(
        job_arn=job_arn,
        job_name=name,
        status=status,
        custom_model_arn=model_arn if status == "Completed" else None,
        deadline=deadline,
        polls=polls,
    ).model_dump()


def start_distillation(
    event: StartDistillationEvent, *, settings: PipelineSettings, bedrock: Any, now: datetime
) -> dict[str, Any]:
    """Create the run's job, or reuse the one that exists; returns `$.distillation`."""
    run = event.run
    names = run_names(settings.prefix, run.run_id)
    found = ensure(
        lambda: find_customization_job(bedrock, names.job_name),
        lambda: create_customization_job(bedrock, job_request(run, event.dataset, settings, names)),
    )
    existing = found.existing
    if existing is None:
        return DistillationState(
            job_arn=str(found.created_arn),
            job_name=names.job_name,
            status="InProgress",
            deadline=_deadline(run, now),
        ).model_dump()
    started = existing.get("creationTime") or now
    return _state(existing, existing["jobArn"], _deadline(run, started), polls=0)


def check_distillation(event: CheckDistillationEvent, *, bedrock: Any, now: datetime) -> dict[str, Any]:
    """One poll of the job; returns `$.distillation` or raises a named error."""
    current = event.distillation
    job = get_customization_job(bedrock, current.job_arn)
    state = _state(job, current.job_arn, current.deadline, current.polls + 1)
    if state["status"] in RUNNING:
        budget = POLL_BUDGETS["job"]
        if now >= datetime.fromisoformat(current.deadline) or state["polls"] >= budget:
            raise DistillationTimedOut(
                f"distillation job {current.job_name} is still {state['status']} after {state['polls']} polls "
                f"(deadline {current.deadline}, job_deadline_hours {event.run.settings.deadlines.job_hours}). "
                f"The job keeps running in Bedrock: stop it (aws bedrock stop-model-customization-job "
                f"--job-identifier {current.job_arn}) or raise job_deadline_hours and resume the run "
                f'with {{"run_id": "{event.run.run_id}"}}'
            )
    return state
