"""The StartJudge and CheckJudge steps: the lifecycle of the run's Bedrock LLM-judge job.

What the job is asked (its request, its input lines) and how its scores are read is
`judge.py`; this module starts the job (or finds the one a retried StartJudge already
started: the name derives from the run id), polls it, and stops a job that is past the
evaluation deadline or the poll budget (TimedOut). A judge turned off, or with nothing to
judge, is Skipped. Both steps return a `JudgeJob`; `summary()` is `$.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..converse import classify, error_code
from ..errors import BedrockThrottled
from ..layout import s3_uri
from ..pipeline.planning import POLL_BUDGETS
from ..settings import CheckJudgeEnv, StartJudgeEnv
from ..state import CheckJudgeEvent, StartJudgeEvent
from .judge import create_job_request, judge_job_name


@dataclass(frozen=True)
class JudgeJob:
    """The judge job after a step; `reused`: StartJudge found the job this run had already started."""

    job_arn: str | None
    job_name: str | None
    status: str  # InProgress, Stopping, Completed, Failed, Stopped, TimedOut or Skipped
    failure: str | None = None
    polls: int = 0
    reused: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "job_arn": self.job_arn,
            "job_name": self.job_name,
            "status": self.status,
            "failure": self.failure,
            "polls": self.polls,
        }


def _skipped(reason: str) -> JudgeJob:
    return JudgeJob(job_arn=None, job_name=None, status="Skipped", failure=reason)


def _retryable(exc: ClientError) -> BedrockThrottled | None:
    """Throttled or transient (routing.converse's one table): the state machine retries it by name."""
    fault = classify(exc)
    return BedrockThrottled(str(fault)) if fault.temporary else None


def find_job_arn(bedrock: Any, job_name: str) -> str | None:
    """The ARN of this account's evaluation job named exactly `job_name`, if any."""
    for page in bedrock.get_paginator("list_evaluation_jobs").paginate(nameContains=job_name):
        for job in page.get("jobSummaries", []):
            if job.get("jobName") == job_name:
                return str(job["jobArn"])
    return None


def start_judge_step(event: StartJudgeEvent, *, settings: StartJudgeEnv, bedrock: Any) -> JudgeJob:
    """Start the judge job (or find the one this run already started); Skipped when off."""
    run = event.run
    if not run.settings.judge:
        return _skipped("turned off for this run")
    if not event.evaluation.judge_prompts:
        return _skipped("no answers to judge")
    layout = run.layout
    job_name = judge_job_name(settings.job_name_prefix, run.run_id)
    request = create_job_request(
        job_name=job_name,
        role_arn=settings.evaluation_role_arn,
        judge_model_id=run.settings.judge_model_id,
        input_uri=s3_uri(run.bucket, event.evaluation.judge_input_key),
        output_uri=s3_uri(run.bucket, layout.judge_output_prefix),
        run_id=run.run_id,
    )
    try:
        job_arn = bedrock.create_evaluation_job(**request)["jobArn"]
    except ClientError as exc:
        if retry := _retryable(exc):
            raise retry from None
        if error_code(exc) != "ConflictException":
            raise
        found = find_job_arn(bedrock, job_name)
        if found is None:
            raise
        return JudgeJob(job_arn=found, job_name=job_name, status="InProgress", reused=True)
    return JudgeJob(job_arn=job_arn, job_name=job_name, status="InProgress")


def check_judge_step(
    event: CheckJudgeEvent, *, settings: CheckJudgeEnv, bedrock: Any, now: datetime | None = None
) -> JudgeJob:
    """The judge job's status; a job past the evaluation deadline or the poll budget is stopped, TimedOut."""
    judge = event.judge
    if judge.status == "Skipped" or not judge.job_arn:
        return JudgeJob(
            job_arn=judge.job_arn,
            job_name=judge.job_name,
            status=judge.status,
            failure=judge.failure,
            polls=judge.polls,
        )
    try:
        job = bedrock.get_evaluation_job(jobIdentifier=judge.job_arn)
    except ClientError as exc:
        if retry := _retryable(exc):
            raise retry from None
        raise
    status = str(job.get("status"))
    failure = "; ".join(job.get("failureMessages") or []) or None
    created = job.get("creationTime")
    now = now or datetime.now(UTC)
    polls = judge.polls + 1
    overdue = isinstance(created, datetime) and now - created > timedelta(hours=settings.deadline_hours)
    # The poll budget bounds the loop whatever the Wait lasts (Step Functions' 25,000 history events).
    over_budget = polls >= POLL_BUDGETS["evaluation"]
    if status == "InProgress" and (overdue or over_budget):
        try:
            bedrock.stop_evaluation_job(jobIdentifier=judge.job_arn)
        except ClientError as exc:
            if error_code(exc) != "ConflictException":  # already stopping or finished
                raise
        status = "TimedOut"
        failure = (
            f"the judge job did not finish within {settings.deadline_hours} hours"
            if overdue
            else f"the judge job was still running after {polls} polls (raise wait_seconds.evaluation)"
        )
    return JudgeJob(
        job_arn=judge.job_arn, job_name=judge.job_name, status=status, failure=failure, polls=polls
    )
