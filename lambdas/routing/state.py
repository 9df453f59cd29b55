"""Typed views of the execution state every step reads and writes, and each step's event.

The state is one JSON object; each step writes its result under its own key (see
PIPELINE_CONTRACT / README "Execution state"): `$.run` (Plan), `$.generation` (Plan, then
Generate), `$.dataset` (Prepare dataset), `$.distillation` (Start/Check distillation),
`$.deployment` (Create/Check deployment), `$.evaluation` (Evaluate), `$.judge` (Start/Check
judge), `$.report` (Report). Payloads stay small: S3 keys and counts. The evaluation tasks are
invoked with the whole state (`"Payload.$": "$"`); each event model names only the keys its
step reads.

Models read the state with `extra="ignore"`, so later steps may add keys without breaking
earlier ones; `parse_event` raises `InvalidEvent` naming each bad field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidEvent, validation_details
from .layout import RunLayout
from .settings import (
    Answerer,
    Candidate,
    Deadlines,
    GateReference,
    GateThresholds,
    GenerationChecks,
    WaitSeconds,
)

Mode = Literal["generate", "dataset", "invocation_logs"]
Focus = str  # a modality name, or MIXED_FOCUS
Difficulty = Literal["easy", "medium", "hard"]
MIXED_FOCUS = "mixed"


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RunSettings(_State):
    """`$.run.settings`: the configuration defaults with the execution input's overrides applied."""

    examples: int
    holdout: int
    teacher_model_id: str
    student_model_id: str
    baseline_model_id: str
    judge: bool
    judge_model_id: str
    modalities: list[str]
    gate: GateThresholds
    wait_seconds: WaitSeconds
    evaluation_candidates: list[Candidate]
    dataset_s3_uri: str | None = None
    invocation_logs_s3_uri: str | None = None
    # What generation and the poll loops need (the evaluation steps do not read these).
    examples_per_call: int
    generation_concurrency: int
    max_response_length: int
    deadlines: Deadlines
    generation_checks: GenerationChecks = Field(default_factory=GenerationChecks)
    # The gold set (human labels) every candidate also answers, whether the teacher answers it too, and
    # which references the gate decides on ("teacher": the held-out set; "gold": the gold set).
    gold_s3_uri: str | None = None
    gold_teacher: bool = True
    gate_reference: GateReference = "teacher"

    @field_validator("evaluation_candidates")
    @classmethod
    def _candidates(cls, value: list[Candidate]) -> list[Candidate]:
        if not value or len(set(value)) != len(value):
            raise ValueError("evaluation_candidates must be a non-empty list without duplicates")
        return value

    @property
    def mode(self) -> Mode:
        if self.dataset_s3_uri:
            return "dataset"
        if self.invocation_logs_s3_uri:
            return "invocation_logs"
        return "generate"


class RunState(_State):
    """`$.run`, written by Plan."""

    run_id: Annotated[str, Field(min_length=1, max_length=80)]
    bucket: str
    prefix: str
    manifest_key: str
    settings: RunSettings
    warnings: list[str] = Field(default_factory=list)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_id)


class Batch(_State):
    """One Map item: a teacher call asking for `count` examples of one focus and difficulty."""

    batch: Annotated[int, Field(ge=0, le=99_999)]
    focus: Focus
    difficulty: Difficulty
    count: Annotated[int, Field(ge=1, le=100)]


class LeakCounts(_State):
    """Examples Prepare dataset kept out of training because their normalised query is a gold query
    (`gold`) or a held-out query (`holdout`)."""

    gold: int = 0
    holdout: int = 0


class DatasetState(_State):
    """`$.dataset`, written by Prepare dataset. `train_key` is None when distilling from invocation logs."""

    train_key: str | None
    holdout_key: str
    stats_key: str
    train_count: int
    holdout_count: int
    # Teacher batches that failed after their retries and were tolerated (generation_checks).
    failed_batches: int = 0
    # The run's copy of its gold set (None without one), and the examples kept out of training.
    gold_key: str | None = None
    gold_count: int = 0
    leaks: LeakCounts = Field(default_factory=lambda: LeakCounts())


class DistillationState(_State):
    """`$.distillation`: the customization job; `custom_model_arn` once Completed."""

    job_arn: str
    job_name: str
    status: str
    custom_model_arn: str | None = None
    deadline: str
    polls: int = 0


class LocalModelState(_State):
    """`$.local_model`: the tier-0 model TrainLocalModel wrote (`trained` false, with `error`, when it did not)."""

    trained: bool = False
    key: str | None = None
    s3_uri: str | None = None
    sha256: str | None = None
    examples: int = 0
    features: int = 0
    seconds: float | None = None
    train_loss: float | None = None
    error: str | None = None
    # A Catch on TrainLocalModel stores Step Functions' error here; the report shows it.
    cause: str | None = None


class DeploymentState(_State):
    """`$.deployment`: the on-demand custom model deployment the evaluation invokes."""

    deployment_arn: str
    deployment_name: str
    status: str
    deadline: str
    polls: int = 0


class CandidateRef(_State):
    candidate: Answerer
    model_id: str


class EvaluationState(_State):
    """`$.evaluation`, returned by Evaluate (each invocation; `complete` once all answers are in)."""

    results_key: str
    judge_input_key: str
    candidates: list[CandidateRef]
    answers: int
    complete: bool
    done: int = 0
    judge_prompts: int = 0
    offline_stand_in: bool = False
    # Who answered the gold set (the candidates, and the teacher when gold_teacher), and how many
    # gold answers `answers` includes.
    gold_candidates: list[CandidateRef] = Field(default_factory=list)
    gold_answers: int = 0


class JudgeState(_State):
    """`$.judge`: StartJudge / CheckJudge result; `status` "Skipped" when the judge is off."""

    job_arn: str | None = None
    job_name: str | None = None
    status: str
    failure: str | None = None
    # A Catch on the judge states stores Step Functions' error here; the report shows it.
    cause: str | None = None
    # CheckJudge calls so far: the loop ends at routing.settings.POLL_BUDGETS["evaluation"].
    polls: int = 0


class ReportGate(_State):
    passed: bool
    reasons: list[str]


class ReportState(_State):
    """`$.report`, returned by Report: where the report is and whether the gate passed."""

    report_key: str
    gate: ReportGate
    # The tier-0 model Promote puts into the active-model value ({s3_uri, sha256, threshold}; None: none).
    local_model: dict[str, Any] | None = None


class ExecutionRef(_State):
    name: str
    id: str = ""
    start_time: str = ""


class PlanEvent(_State):
    input: Any = None
    execution: ExecutionRef


class GenerateEvent(_State):
    run: RunState
    batch: Batch
    # The execution's id ($$.Execution.Id): a part records which execution wrote it.
    execution: str = ""


class GenerationState(_State):
    """`$.generation` after the Map: how many batches it ran (their parts are in S3)."""

    batches: int = 0


class PrepareDatasetEvent(_State):
    run: RunState
    generation: GenerationState | None = None


class StartDistillationEvent(_State):
    run: RunState
    dataset: DatasetState


class TrainLocalModelEvent(_State):
    run: RunState
    dataset: DatasetState


class CheckDistillationEvent(_State):
    run: RunState
    distillation: DistillationState


class CreateDeploymentEvent(_State):
    run: RunState
    distillation: DistillationState


class CheckDeploymentEvent(_State):
    run: RunState
    deployment: DeploymentState


class EvaluateEvent(_State):
    run: RunState
    dataset: DatasetState
    deployment: DeploymentState
    # A run started before tier-0 existed has no `$.local_model`: it is evaluated without one.
    local_model: LocalModelState | None = None


class StartJudgeEvent(_State):
    run: RunState
    evaluation: EvaluationState


class CheckJudgeEvent(_State):
    run: RunState
    judge: JudgeState


class ReportEvent(_State):
    run: RunState
    dataset: DatasetState
    evaluation: EvaluationState
    judge: JudgeState | None = None
    local_model: LocalModelState | None = None


class PromoteEvent(_State):
    run: RunState
    deployment: DeploymentState
    report: ReportState


_Event = TypeVar("_Event", bound=BaseModel)


def parse_event(model: type[_Event], event: Any) -> _Event:
    """Validate a step's payload; raise InvalidEvent listing each bad field."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"{model.__name__}: {validation_details(exc)}") from None
