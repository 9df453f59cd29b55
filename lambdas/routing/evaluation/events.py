"""Typed views of what the evaluation Lambdas receive: the execution state.

Every evaluation task is invoked with the whole execution state (`"Payload.$": "$"`); each
handler parses only the keys it needs (`$.run`, `$.dataset`, `$.deployment`, `$.evaluation`,
`$.judge`, `$.report`, as the pipeline contract in README.md defines them) and ignores the rest.
A bad payload raises `InvalidEvent` naming the field. Their environment: routing.settings.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routing.pipeline import state as pipeline_state
from routing.settings import GateThresholds

from .errors import InvalidEvent

CandidateName = Literal["distilled", "student", "baseline"]
CANDIDATE_ORDER: tuple[str, ...] = ("distilled", "student", "baseline")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunSettings(_Model):
    student_model_id: str
    baseline_model_id: str
    judge: bool = True
    judge_model_id: str = ""
    modalities: list[str]
    gate: GateThresholds | None = None
    evaluation_candidates: list[CandidateName] = Field(default_factory=lambda: list(CANDIDATE_ORDER))

    @field_validator("evaluation_candidates")
    @classmethod
    def _candidates(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError("evaluation_candidates must be a non-empty list without duplicates")
        return value


class RunState(_Model):
    """`$.run`, written by the pipeline's Plan step."""

    run_id: Annotated[str, Field(min_length=1, max_length=80)]
    bucket: str
    prefix: str
    settings: RunSettings
    warnings: list[str] = Field(default_factory=list)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class DatasetState(_Model):
    holdout_key: str
    train_count: int = 0
    holdout_count: int = 0
    # Teacher batches that failed after their retries and were tolerated (Prepare dataset).
    failed_batches: int = 0


class DeploymentState(_Model):
    deployment_arn: str


class CandidateRef(_Model):
    candidate: CandidateName
    model_id: str


class EvaluationState(_Model):
    """`$.evaluation`, returned by Evaluate (each invocation; `complete` once all answers are in)."""

    results_key: str
    judge_input_key: str
    candidates: list[CandidateRef]
    answers: int
    complete: bool
    done: int = 0
    judge_prompts: int = 0
    offline_stand_in: bool = False


class JudgeState(_Model):
    """`$.judge`: StartJudge / CheckJudge result; `status` "Skipped" when the judge is off."""

    job_arn: str | None = None
    job_name: str | None = None
    status: str
    failure: str | None = None
    # A Catch on the judge states stores Step Functions' error here; the report shows it.
    cause: str | None = None
    # CheckJudge calls so far: the loop ends at routing.pipeline.planning.POLL_BUDGETS["evaluation"].
    polls: int = 0


class ReportGate(_Model):
    passed: bool
    reasons: list[str]


class ReportState(_Model):
    report_key: str
    gate: ReportGate


class EvaluateEvent(_Model):
    run: RunState
    dataset: DatasetState
    deployment: DeploymentState


class StartJudgeEvent(_Model):
    run: RunState
    evaluation: EvaluationState


class CheckJudgeEvent(_Model):
    run: RunState
    judge: JudgeState


class ReportEvent(_Model):
    run: RunState
    dataset: DatasetState
    evaluation: EvaluationState
    judge: JudgeState | None = None


class PromoteEvent(_Model):
    run: RunState
    deployment: DeploymentState
    report: ReportState


_Event = TypeVar("_Event", bound=BaseModel)


def parse_event(model: type[_Event], event: Any) -> _Event:
    """Validate a step's input; raise the evaluation steps' InvalidEvent listing each bad field."""
    return pipeline_state.parse_event(model, event, error=InvalidEvent)
