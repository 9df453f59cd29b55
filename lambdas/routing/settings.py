"""Runtime settings of the step functions: one typed model per function environment, and the field types
the configuration composes.

Each boundary has one schema. `cdk_app.config.AppConfig` builds its settings from the field types and
models defined here (same bounds, same defaults); `stacks/constructs/function_environment.py` builds each
function's runtime model from the `AppConfig` and writes it with `to_environ()`; the handler reads it
back once with `from_environ(os.environ)`. A variable's name and format are written once, in the
model's `ENVIRON` table:

* a `str` as is, an `int`/`float` as its decimal text, a `bool` as "true"/"false"; an unset optional
  value (None) is not written, which reads back as unset;
* a list or tuple as comma-separated text (MODALITIES, EVALUATION_CANDIDATES);
* a nested model or a mapping as compact JSON (GATE, WAIT_SECONDS, GENERATION_CHECKS, MODEL_PRICES),
  or, when `ENVIRON` maps it to a table of its own, one variable per field (the deadlines).

A missing, unparsable or out-of-range variable raises `InvalidSettings` naming it. Variables Lambda
sets itself (AWS_REGION) are read, never written. The execution input (routing.pipeline.inputs)
overrides a run's values with the same models, every field optional.

    PipelineSettings (every distillation step): PROJECT_NAME, STAGE, AWS_REGION, DATA_BUCKET,
        DISTILLATION_ROLE_ARN, TEACHER_MODEL_ID, STUDENT_MODEL_ID, BASELINE_MODEL_ID, JUDGE_MODEL_ID,
        MODALITIES, EXAMPLES, HOLDOUT, EXAMPLES_PER_CALL, GENERATION_CONCURRENCY, MAX_RESPONSE_LENGTH,
        JUDGE, GATE, WAIT_SECONDS, JOB_DEADLINE_HOURS, DEPLOYMENT_DEADLINE_MINUTES,
        EVALUATION_DEADLINE_HOURS, EVALUATION_CANDIDATES, GENERATION_CHECKS, ROUTER_APP_TAG, GOLD_S3_URI,
        GOLD_TEACHER, GATE_REFERENCE
    EvaluateEnv: EVALUATION_CONCURRENCY, EVALUATION_MAX_TOKENS, JUDGE_MAX_PROMPTS,
        EVALUATION_RESERVE_SECONDS, OFFLINE_STAND_IN
    StartJudgeEnv: EVALUATION_ROLE_ARN, JUDGE_JOB_NAME_PREFIX
    CheckJudgeEnv: EVALUATION_DEADLINE_HOURS
    ReportEnv: MODEL_PRICES, GATE, PROMOTION
    PromoteEnv: ACTIVE_MODEL_PARAMETER, PROMOTION
    RolloutControlEnv: ACTIVE_MODEL_PARAMETER, ROLLOUT_TOPIC_ARN, ROLLOUT_ALARMS, ROUTER_METRICS_NAMESPACE,
        ROUTER_METRICS_SERVICE, ROLLOUT_ALARM_WINDOW_SECONDS
    TrainLocalModelEnv: LOCAL_MODEL_BUCKETS, LOCAL_MODEL_NGRAMS, LOCAL_MODEL_EPOCHS,
        LOCAL_MODEL_LEARNING_RATE, LOCAL_MODEL_L2, LOCAL_MODEL_MIN_SUPPORT

The router has its own settings (lambdas/router/router_api/settings.py, standard library only: its
cold start counts).
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing import validate_modalities

from .errors import InvalidSettings

# The Bedrock models a run may evaluate (`evaluation_candidates`).
Candidate = Literal["distilled", "student", "baseline"]
# The evaluation always lists its candidates in this order (answers, results, report), then LOCAL.
CANDIDATE_ORDER: tuple[Candidate, ...] = ("distilled", "student", "baseline")
# The fourth candidate: the run's tier-0 model (routing.local_model), answering in process without a model
# call. It is evaluated whenever the run trained one (`$.local_model.trained`), always after the others.
LOCAL = "local"
# Who answers the gold set: the candidates (the local model too), and the teacher (its labels are the
# held-out references, so only human labels can say how accurate it is).
Answerer = Literal["distilled", "student", "baseline", "local", "teacher"]
TEACHER: Answerer = "teacher"
# The references a number is measured against: the held-out set's are the teacher's labels
# (teacher fidelity), the gold set's are people's (gold accuracy). The gate decides on one of them.
GateReference = Literal["teacher", "gold"]
# The query sets an answer record belongs to: the held-out set (teacher labels) or the gold set (human labels).
ReferenceSet = Literal["holdout", "gold"]

# A Bedrock model id, inference profile id or ARN; strict enough to catch typos and spaces.
MODEL_ID_PATTERN = (
    r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]*:[0-9]{0,12}:[a-z-]+/)?[a-z0-9][a-zA-Z0-9.:_/-]{2,255}$"
)
MODEL_ID_HINT = "a Bedrock model id, inference profile id or ARN"  # what an error says it should be
ModelId = Annotated[str, Field(pattern=MODEL_ID_PATTERN)]

# Poll iterations each loop may take (the distillation job, the deployment, the judge's evaluation
# job): every loop ends at its budget whatever its Wait lasts, so a run's worst case is known at Plan.
# The CDK configuration refuses default waits too short for the deadlines (cdk_app/config.py).
POLL_BUDGETS: Mapping[str, int] = {"job": 600, "deployment": 300, "evaluation": 300}

# A teacher answer holds ANSWER_OVERHEAD_TOKENS plus TOKENS_PER_EXAMPLE per example (query, weights, a
# one-sentence reasoning) and may not pass TEACHER_MAX_OUTPUT_TOKENS (planning.max_tokens_for): so at
# most 79 examples per call.
TOKENS_PER_EXAMPLE = 120
ANSWER_OVERHEAD_TOKENS = 500
TEACHER_MAX_OUTPUT_TOKENS = 10_000
MAX_EXAMPLES_PER_CALL = (TEACHER_MAX_OUTPUT_TOKENS - ANSWER_OVERHEAD_TOKENS) // TOKENS_PER_EXAMPLE
# At least 20 examples per call: a budget of one teacher call per 20 wanted examples (10,000: <= 500 calls).
MIN_EXAMPLES_PER_CALL = 20

# Bedrock's distillation limits on the training file (the examples besides the held-out set).
MIN_TRAINING_RECORDS = 100
MAX_TRAINING_RECORDS = 15_000
MAX_HOLDOUT = 1_000

# The field types of the settings a user configures (cdk_app.config composes them).
Holdout = Annotated[int, Field(ge=1, le=MAX_HOLDOUT)]
ExamplesPerCall = Annotated[int, Field(ge=MIN_EXAMPLES_PER_CALL, le=MAX_EXAMPLES_PER_CALL)]
GenerationConcurrency = Annotated[int, Field(ge=1, le=40)]
MaxResponseLength = Annotated[int, Field(ge=100, le=4_096)]
JobDeadlineHours = Annotated[int, Field(ge=1, le=24 * 14)]
DeploymentDeadlineMinutes = Annotated[int, Field(ge=5, le=24 * 60)]
EvaluationDeadlineHours = Annotated[int, Field(ge=1, le=72)]
EvaluationConcurrency = Annotated[int, Field(ge=1, le=32)]
PollSeconds = Annotated[int, Field(ge=0, le=3600)]
# Bedrock's S3Uri shape (CreateModelCustomizationJob), which every URI of a run ends up in.
S3_URI_PATTERN = (
    r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
)
S3Uri = Annotated[str, Field(pattern=S3_URI_PATTERN, max_length=1024)]
# Bedrock's requestMetadata value pattern (bedrock-runtime service model, Converse).
AppTag = Annotated[str, Field(pattern=r"^[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}$")]


def shortest_waits(job_hours: float, deployment_minutes: float, evaluation_hours: float) -> dict[str, int]:
    """The shortest non-zero Wait per loop that lets its deadline fit in its poll budget (seconds)."""
    deadlines = {
        "job": job_hours * 3600,
        "deployment": deployment_minutes * 60,
        "evaluation": evaluation_hours * 3600,
    }
    return {loop: math.ceil(seconds / POLL_BUDGETS[loop]) for loop, seconds in deadlines.items()}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- nested settings


class GateThresholds(_Frozen):
    """Quality gate the distilled model must pass before it is promoted."""

    min_mean_score: Annotated[float, Field(ge=1, le=5)] = 3.5
    max_score_drop: Annotated[float, Field(ge=0, le=4)] = 0.25
    min_json_validity: Annotated[float, Field(ge=0, le=1)] = 0.95
    max_p95_latency_ratio: Annotated[float, Field(gt=0, le=100)] = 1.0


# Which way each threshold tightens the gate: "higher" (a larger minimum) or "lower" (a smaller allowance).
GATE_TIGHTER: Mapping[str, Literal["higher", "lower"]] = {
    "min_mean_score": "higher",
    "max_score_drop": "lower",
    "min_json_validity": "higher",
    "max_p95_latency_ratio": "lower",
}


def gate_loosenings(configured: Mapping[str, float], overrides: Mapping[str, float]) -> list[str]:
    """One message per override that is looser than the configured threshold (empty: only tightened).

    Anyone allowed to start an execution may make the gate stricter for a run; a looser gate
    would let them promote what the deployed configuration refuses, so loosening is a deploy.
    """
    problems = []
    for key, value in overrides.items():
        limit = configured[key]
        looser = value < limit if GATE_TIGHTER[key] == "higher" else value > limit
        if looser:
            bound = "at least" if GATE_TIGHTER[key] == "higher" else "at most"
            problems.append(
                f"'gate.{key}' ({value:g}) would loosen the configured gate ({limit:g}): an execution input may "
                f"only tighten it ({bound} {limit:g}); loosening is configuration (cdk deploy -c gate=...)"
            )
    return problems


def tightest_gate(configured: GateThresholds, run: GateThresholds | None) -> GateThresholds:
    """The stricter of the deployed thresholds and a run's, key by key (the Report step's gate)."""
    if run is None:
        return configured
    values = {}
    for key, direction in GATE_TIGHTER.items():
        pick = max if direction == "higher" else min
        values[key] = pick(getattr(configured, key), getattr(run, key))
    return GateThresholds(**values)


class WaitSeconds(_Frozen):
    """Poll intervals of the pipeline's Wait states (the execution input can override them)."""

    job: PollSeconds = 600
    deployment: PollSeconds = 30
    evaluation: PollSeconds = 300


class Deadlines(_Frozen):
    """How long each poll loop may wait before it fails with a named timeout error."""

    job_hours: JobDeadlineHours = 48
    deployment_minutes: DeploymentDeadlineMinutes = 120
    evaluation_hours: EvaluationDeadlineHours = 24


class GenerationChecks(_Frozen):
    """When a teacher batch counts as done and when generation gives up (docs/hardening.md)."""

    # A part with fewer valid examples than this share of what its batch asked for is short: a resumed
    # run asks for it again. The first `abort_after_batches` batches below it, together, stop the run
    # (GenerationAborted; 0: never).
    min_valid_share: Annotated[float, Field(ge=0, le=1)] = 0.5
    abort_after_batches: Annotated[int, Field(ge=0, le=100)] = 5
    # Batches that still fail after their retries are tolerated up to this share of the batches
    # (GenerationIncomplete above it).
    max_failed_batch_share: Annotated[float, Field(ge=0, le=1)] = 0.1


class ModelPrice(_Frozen):
    """On-demand price of a model in USD per one million tokens."""

    input_per_1m: Annotated[float, Field(ge=0)]
    output_per_1m: Annotated[float, Field(ge=0)]


RolloutMode = Literal["shadow", "canary"]
RolloutPercent = Annotated[float, Field(ge=0, le=100)]


class AutoFinishAfter(_Frozen):
    """When a rollout with no alarm in ALARM ends by promoting its candidate (docs/rollout.md): once the
    candidate was asked `queries` times or `hours` passed since it started, whichever comes first."""

    queries: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    hours: Annotated[float, Field(gt=0, le=24 * 90)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AutoFinishAfter:
        if self.queries is None and self.hours is None:
            raise ValueError("give queries, hours or both (or leave auto_finish_after out: finish by hand)")
        return self


class PromotionPolicy(_Frozen):
    """What a run whose gate passed does at its end: promote at once (the default), or start a rollout
    (`shadow` or `canary` for `percent` % of queries, finishing by itself after `auto_finish_after`)."""

    on_pass: Literal["promote", "shadow", "canary"] = "promote"
    percent: RolloutPercent = 10
    auto_finish_after: AutoFinishAfter | None = None


# The rollout alarms' period (stacks/constructs/rollout_control.py): one datapoint per 5 minutes.
ROLLOUT_ALARM_PERIOD_SECONDS = 300


class RolloutAlarms(_Frozen):
    """Thresholds of the rollout alarms (stacks/constructs/rollout_control.py); any in ALARM aborts the rollout.

    The rates are computed per 5-minute period only when the candidate was asked at least
    `min_candidate_requests` times in it (fewer: no data, which is not breaching).
    """

    max_candidate_fallback_percent: Annotated[float, Field(gt=0, le=100)] = 5
    max_candidate_parse_failure_percent: Annotated[float, Field(gt=0, le=100)] = 2
    # The candidate's p95 model latency over the active model's p95.
    max_latency_ratio: Annotated[float, Field(gt=0, le=100)] = 1.5
    max_shadow_disagreement_percent: Annotated[float, Field(gt=0, le=100)] = 20
    min_candidate_requests: Annotated[int, Field(ge=1, le=100_000)] = 20
    evaluation_periods: Annotated[int, Field(ge=1, le=12)] = 3
    datapoints_to_alarm: Annotated[int, Field(ge=1, le=12)] = 2

    def window_seconds(self, cache_age_seconds: int) -> int:
        """How long after a rollout starts every datapoint an alarm evaluates is the rollout's own: the
        evaluation periods, plus the time the router's containers take to read the new value."""
        return self.evaluation_periods * ROLLOUT_ALARM_PERIOD_SECONDS + cache_age_seconds


# ----------------------------------------------------------------------------- the environment codec

_Settings = TypeVar("_Settings", bound="EnvironmentSettings")


class EnvironmentSettings(_Frozen):
    """A function's settings as its environment variables: `ENVIRON` names each field's variable."""

    # field -> variable; a nested model spread over variables maps to {its field: variable}.
    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {}
    # Fields whose variable Lambda sets itself (never written by to_environ).
    SET_BY_LAMBDA: ClassVar[frozenset[str]] = frozenset()

    def to_environ(self) -> dict[str, str]:
        """The function's environment variables for these settings (what from_environ reads back)."""
        dumped = self.model_dump(mode="json")
        variables: dict[str, str] = {}
        for field, variable in self.ENVIRON.items():
            if field in self.SET_BY_LAMBDA or dumped[field] is None:
                continue
            if isinstance(variable, Mapping):
                variables.update({name: _encode(dumped[field][part]) for part, name in variable.items()})
            else:
                variables[variable] = _encode(dumped[field])
        return variables

    @classmethod
    def from_environ(cls: type[_Settings], environ: Mapping[str, str]) -> _Settings:
        """Parse the function's environment; raise InvalidSettings naming each bad variable."""
        problems: list[str] = []
        raw: dict[str, Any] = {}
        for field, variable in cls.ENVIRON.items():
            required = cls.model_fields[field].is_required()
            if isinstance(variable, Mapping):
                parts = {part: _read(environ, name, True, str, problems) for part, name in variable.items()}
                raw[field] = {part: value for part, value in parts.items() if value is not None}
                continue
            value = _read(environ, variable, required, cls.model_fields[field].annotation, problems)
            if value is not None:
                raw[field] = value
        if problems:
            raise InvalidSettings("Function environment incomplete: " + "; ".join(problems))
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            details = "; ".join(
                f"{cls._variable_of(problem['loc'])} ({'.'.join(str(part) for part in problem['loc'])}): "
                f"{problem['msg']}"
                for problem in exc.errors()
            )
            raise InvalidSettings(f"Function environment invalid: {details}") from None

    @classmethod
    def _variable_of(cls, loc: tuple[Any, ...]) -> str:
        variable = cls.ENVIRON.get(str(loc[0]), str(loc[0])) if loc else "<environment>"
        if isinstance(variable, Mapping):
            return str(variable.get(str(loc[1]), "")) if len(loc) > 1 else ", ".join(variable.values())
        return variable


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _read(environ: Mapping[str, str], name: str, required: bool, annotation: Any, problems: list[str]) -> Any:
    """One variable, decoded for its field's type; None (with a problem if it is required) when unset."""
    text = (environ.get(name) or "").strip()
    if not text:
        if required:
            problems.append(f"{name} is not set")
        return None
    kind = typing.get_origin(annotation) or annotation
    if kind in (list, tuple):
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{name} is not JSON ({exc.msg})")
            return None
    return text


# ----------------------------------------------------------------------------- the functions' settings


class PipelineSettings(EnvironmentSettings):
    """The deployment's defaults for every run (every distillation step); Plan applies the execution
    input's overrides on top of them."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "project_name": "PROJECT_NAME",
        "stage": "STAGE",
        "region": "AWS_REGION",
        "data_bucket": "DATA_BUCKET",
        "distillation_role_arn": "DISTILLATION_ROLE_ARN",
        "teacher_model_id": "TEACHER_MODEL_ID",
        "student_model_id": "STUDENT_MODEL_ID",
        "baseline_model_id": "BASELINE_MODEL_ID",
        "judge_model_id": "JUDGE_MODEL_ID",
        "modalities": "MODALITIES",
        "examples": "EXAMPLES",
        "holdout": "HOLDOUT",
        "examples_per_call": "EXAMPLES_PER_CALL",
        "generation_concurrency": "GENERATION_CONCURRENCY",
        "max_response_length": "MAX_RESPONSE_LENGTH",
        "judge": "JUDGE",
        "gate": "GATE",
        "wait_seconds": "WAIT_SECONDS",
        "deadlines": {
            "job_hours": "JOB_DEADLINE_HOURS",
            "deployment_minutes": "DEPLOYMENT_DEADLINE_MINUTES",
            "evaluation_hours": "EVALUATION_DEADLINE_HOURS",
        },
        "evaluation_candidates": "EVALUATION_CANDIDATES",
        "generation_checks": "GENERATION_CHECKS",
        # The requestMetadata "app" value the router tags its Bedrock calls with (the router's
        # ROUTER_APP_TAG): distilling from invocation logs keeps only those calls.
        "router_app_tag": "ROUTER_APP_TAG",
        # The deployment's gold set (human labels), whether the teacher answers it too, and which
        # references the gate decides on (docs/evaluation.md, "A gold set").
        "gold_s3_uri": "GOLD_S3_URI",
        "gold_teacher": "GOLD_TEACHER",
        "gate_reference": "GATE_REFERENCE",
    }
    SET_BY_LAMBDA: ClassVar[frozenset[str]] = frozenset({"region"})

    project_name: Annotated[str, Field(min_length=1)]
    stage: Annotated[str, Field(min_length=1)]
    region: Annotated[str, Field(min_length=1)]
    data_bucket: Annotated[str, Field(min_length=3)]
    distillation_role_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")]
    teacher_model_id: ModelId
    student_model_id: ModelId
    baseline_model_id: ModelId
    judge_model_id: ModelId
    modalities: tuple[str, ...]
    # Bedrock's limits with the smallest and largest holdout (the configuration and Plan check examples
    # against the run's holdout).
    examples: Annotated[int, Field(ge=MIN_TRAINING_RECORDS + 1, le=MAX_TRAINING_RECORDS + MAX_HOLDOUT)]
    holdout: Holdout
    examples_per_call: ExamplesPerCall
    generation_concurrency: GenerationConcurrency
    max_response_length: MaxResponseLength
    judge: bool
    gate: GateThresholds
    wait_seconds: WaitSeconds
    deadlines: Deadlines
    evaluation_candidates: tuple[Candidate, ...] = CANDIDATE_ORDER
    generation_checks: GenerationChecks = Field(default_factory=GenerationChecks)
    router_app_tag: AppTag = "router"
    gold_s3_uri: S3Uri | None = None
    gold_teacher: bool = True
    gate_reference: GateReference = "teacher"

    @field_validator("modalities")
    @classmethod
    def _modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return validate_modalities(value)

    @property
    def prefix(self) -> str:
        """Prefix of every Bedrock resource name of this deployment, e.g. "vsr-dev"."""
        return f"{self.project_name}-{self.stage}"


class EvaluateEnv(EnvironmentSettings):
    """The Evaluate step: how many calls at once, their size, and the time kept for writing results."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "concurrency": "EVALUATION_CONCURRENCY",
        "max_tokens": "EVALUATION_MAX_TOKENS",
        "judge_max_prompts": "JUDGE_MAX_PROMPTS",
        "reserve_seconds": "EVALUATION_RESERVE_SECONDS",
        "offline_stand_in": "OFFLINE_STAND_IN",
    }

    concurrency: EvaluationConcurrency = 4
    max_tokens: Annotated[int, Field(ge=16, le=8192)] = 1000
    # Bedrock's limit of prompts per evaluation job.
    judge_max_prompts: Annotated[int, Field(ge=1, le=1000)] = 1000
    # Seconds kept free at the end of an invocation for in-flight calls (botocore read timeout 60 s)
    # and for writing what finished; the state machine calls Evaluate again until every answer is in.
    reserve_seconds: Annotated[int, Field(ge=10, le=600)] = 120
    # The local dry run's answers come from the offline stand-in: carried into every record and the report.
    offline_stand_in: bool = False


class StartJudgeEnv(EnvironmentSettings):
    """The StartJudge step: the role Bedrock's evaluation job assumes and the job name prefix."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "evaluation_role_arn": "EVALUATION_ROLE_ARN",
        "job_name_prefix": "JUDGE_JOB_NAME_PREFIX",
    }

    evaluation_role_arn: Annotated[str, Field(min_length=1)]
    job_name_prefix: Annotated[str, Field(pattern=r"^[a-z0-9](-*[a-z0-9]){0,40}$")] = "vsr"


class CheckJudgeEnv(EnvironmentSettings):
    """The CheckJudge step: how long the judge's evaluation job may run."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {"deadline_hours": "EVALUATION_DEADLINE_HOURS"}

    deadline_hours: EvaluationDeadlineHours = 24


class ReportEnv(EnvironmentSettings):
    """The Report step: the price table (keyed by foundation model id), the deployed gate, what a pass does."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "prices": "MODEL_PRICES",
        "gate": "GATE",
        "promotion": "PROMOTION",
    }

    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    gate: GateThresholds = Field(default_factory=GateThresholds)
    # What a pass does (the Promote step's own setting): the run notification says it.
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)


class PromoteEnv(EnvironmentSettings):
    """The Promote step: the SSM parameter naming the router's active model, and what a pass does."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "parameter_name": "ACTIVE_MODEL_PARAMETER",
        "promotion": "PROMOTION",
    }

    parameter_name: Annotated[str, Field(min_length=1)]
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)


class RolloutControlEnv(EnvironmentSettings):
    """The rollout controller: the parameter it writes, the topic it tells, the alarms that abort a
    rollout, and where the router's metrics are (namespace and `service` dimension)."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "parameter_name": "ACTIVE_MODEL_PARAMETER",
        "topic_arn": "ROLLOUT_TOPIC_ARN",
        "alarm_names": "ROLLOUT_ALARMS",
        "metrics_namespace": "ROUTER_METRICS_NAMESPACE",
        "metrics_service": "ROUTER_METRICS_SERVICE",
        "alarm_window_seconds": "ROLLOUT_ALARM_WINDOW_SECONDS",
    }

    parameter_name: Annotated[str, Field(min_length=1)]
    topic_arn: Annotated[str, Field(min_length=1)]
    alarm_names: tuple[str, ...]
    metrics_namespace: Annotated[str, Field(min_length=1)]
    metrics_service: Annotated[str, Field(min_length=1)]
    # RolloutAlarms.window_seconds: after this long, an alarm in ALARM judges this rollout alone.
    alarm_window_seconds: Annotated[int, Field(ge=ROLLOUT_ALARM_PERIOD_SECONDS)] = (
        3 * ROLLOUT_ALARM_PERIOD_SECONDS + 60
    )


class TrainLocalModelEnv(EnvironmentSettings):
    """The TrainLocalModel step: the tier-0 model's features and its training (routing.pipeline.local_training)."""

    ENVIRON: ClassVar[Mapping[str, str | Mapping[str, str]]] = {
        "buckets": "LOCAL_MODEL_BUCKETS",
        "ngrams": "LOCAL_MODEL_NGRAMS",
        "epochs": "LOCAL_MODEL_EPOCHS",
        "learning_rate": "LOCAL_MODEL_LEARNING_RATE",
        "l2": "LOCAL_MODEL_L2",
        "min_support": "LOCAL_MODEL_MIN_SUPPORT",
    }

    # Hash buckets of the word n-grams (a power of two, routing.local_model.MAX_BUCKETS at most).
    buckets: Annotated[int, Field(ge=2**8, le=2**20)] = 2**14
    ngrams: tuple[Annotated[int, Field(ge=1, le=4)], ...] = (1, 2)
    epochs: Annotated[int, Field(ge=1, le=5000)] = 300
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 0.1
    # Chosen on the offline data (10,000 examples): 1e-5 scored best of 0, 3e-6, 1e-5, 3e-5, 1e-4, 1e-3.
    l2: Annotated[float, Field(ge=0, le=1)] = 1e-5
    # A feature counts as known (the confidence's known share) once this many training examples had it.
    min_support: Annotated[int, Field(ge=1, le=1000)] = 3

    @field_validator("buckets")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("must be a power of two")
        return value
