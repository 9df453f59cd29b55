"""Typed views of what the evaluation Lambdas receive: the execution state and their environment.

Every evaluation task is invoked with the whole execution state (`"Payload.$": "$"`); each
handler parses only the keys it needs (`$.run`, `$.dataset`, `$.deployment`, `$.evaluation`,
`$.judge`, `$.report`, as the pipeline contract in README.md defines them) and ignores the rest. Environment
variables are set by the `EvaluationSteps` construct and parsed once per invocation.
A bad payload or environment raises `InvalidEvent` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing.pipeline import state as pipeline_state
from routing.pipeline.settings import GateSettings as GateThresholds  # Plan's and Report's gate

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


# ---------------------------------------------------------------------------------- environment


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class EvaluateEnv(_Model):
    concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    max_tokens: Annotated[int, Field(ge=16, le=8192)] = 1000
    judge_max_prompts: Annotated[int, Field(ge=1, le=1000)] = 1000
    # Seconds kept free at the end of an invocation for in-flight calls and writing results.
    reserve_seconds: Annotated[int, Field(ge=10, le=600)] = 120
    offline_stand_in: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EvaluateEnv:
        return _env(
            cls,
            {
                "concurrency": environ.get("EVALUATION_CONCURRENCY"),
                "max_tokens": environ.get("EVALUATION_MAX_TOKENS"),
                "judge_max_prompts": environ.get("JUDGE_MAX_PROMPTS"),
                "reserve_seconds": environ.get("EVALUATION_RESERVE_SECONDS"),
                "offline_stand_in": _truthy(environ.get("OFFLINE_STAND_IN")),
            },
        )


class StartJudgeEnv(_Model):
    evaluation_role_arn: str
    job_name_prefix: Annotated[str, Field(pattern=r"^[a-z0-9](-*[a-z0-9]){0,40}$")] = "vsr"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StartJudgeEnv:
        return _env(
            cls,
            {
                "evaluation_role_arn": environ.get("EVALUATION_ROLE_ARN"),
                "job_name_prefix": environ.get("JUDGE_JOB_NAME_PREFIX"),
            },
        )


class CheckJudgeEnv(_Model):
    deadline_hours: Annotated[int, Field(ge=1, le=72)] = 24

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CheckJudgeEnv:
        return _env(cls, {"deadline_hours": environ.get("EVALUATION_DEADLINE_HOURS")})


class Price(_Model):
    input_per_1m: Annotated[float, Field(ge=0)]
    output_per_1m: Annotated[float, Field(ge=0)]


class ReportEnv(_Model):
    prices: dict[str, Price] = Field(default_factory=dict)
    gate: GateThresholds = Field(default_factory=GateThresholds)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ReportEnv:
        return _env(
            cls,
            {
                "prices": _json(environ, "MODEL_PRICES"),
                "gate": _json(environ, "GATE_THRESHOLDS"),
            },
        )


class PromoteEnv(_Model):
    parameter_name: Annotated[str, Field(min_length=1)]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PromoteEnv:
        return _env(cls, {"parameter_name": environ.get("ACTIVE_MODEL_PARAMETER")})


_Env = TypeVar("_Env", bound=_Model)


def _json(environ: Mapping[str, str], name: str) -> Any:
    text = environ.get(name)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidEvent(f"environment variable {name} is not JSON") from None


def _env(model: type[_Env], values: Mapping[str, Any]) -> _Env:
    present = {key: value for key, value in values.items() if value is not None}
    try:
        return model.model_validate(present)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidEvent(f"{model.__name__} environment: {details}") from None
