"""Settings of the pipeline Lambdas, parsed once from the environment the CDK stack sets.

The stack (stacks/constructs/pipeline_steps.py) copies the relevant cdk.json settings into
each function's environment; `PipelineSettings.from_environ` turns them into one typed,
frozen object and raises `InvalidSettings` naming each bad variable. These are the
defaults of every run; Plan applies the execution input's overrides on top of them.

Environment variables (all required unless a default is shown):

    PROJECT_NAME, STAGE, AWS_REGION (set by Lambda), DATA_BUCKET, DISTILLATION_ROLE_ARN,
    TEACHER_MODEL_ID, STUDENT_MODEL_ID, BASELINE_MODEL_ID, JUDGE_MODEL_ID,
    MODALITIES (comma-separated), EXAMPLES, HOLDOUT, EXAMPLES_PER_CALL,
    GENERATION_CONCURRENCY, MAX_RESPONSE_LENGTH, JUDGE ("true"/"false"),
    GATE (JSON object), WAIT_SECONDS (JSON object: job, deployment, evaluation),
    JOB_DEADLINE_HOURS, DEPLOYMENT_DEADLINE_MINUTES, EVALUATION_DEADLINE_HOURS,
    EVALUATION_CANDIDATES (comma-separated, default "distilled,student,baseline"),
    GENERATION_CHECKS (JSON object, default {}: min_valid_share, abort_after_batches,
    max_failed_batch_share),
    ROUTER_APP_TAG (default "router": the requestMetadata "app" value the router tags its
    Bedrock calls with; distilling from invocation logs keeps only those calls).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing import validate_modalities

from ..errors import InvalidSettings, validation_details

Candidate = Literal["distilled", "student", "baseline"]


# Poll iterations each loop may take (the distillation job, the deployment, the judge's evaluation
# job): every loop ends at its budget whatever its Wait lasts, so a run's worst case is known at Plan.
# The CDK configuration refuses default waits too short for the deadlines (cdk_app/config.py).
POLL_BUDGETS: Mapping[str, int] = {"job": 600, "deployment": 300, "evaluation": 300}


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


class GateSettings(_Frozen):
    """Quality gate thresholds; same fields and bounds as cdk_app.config.GateThresholds (a test checks)."""

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


def tightest_gate(configured: GateSettings, run: GateSettings | None) -> GateSettings:
    """The stricter of the deployed thresholds and a run's, key by key (the Report step's gate)."""
    if run is None:
        return configured
    values = {}
    for key, direction in GATE_TIGHTER.items():
        pick = max if direction == "higher" else min
        values[key] = pick(getattr(configured, key), getattr(run, key))
    return GateSettings(**values)


class WaitSeconds(_Frozen):
    """Poll intervals of the Wait states; same bounds as cdk_app.config.WaitSeconds."""

    job: Annotated[int, Field(ge=0, le=3600)] = 600
    deployment: Annotated[int, Field(ge=0, le=3600)] = 30
    evaluation: Annotated[int, Field(ge=0, le=3600)] = 300


class Deadlines(_Frozen):
    """How long each poll loop may wait before it fails with a named timeout error."""

    job_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 48
    deployment_minutes: Annotated[int, Field(ge=5, le=24 * 60)] = 120
    evaluation_hours: Annotated[int, Field(ge=1, le=72)] = 24


class GenerationChecks(_Frozen):
    """When a teacher batch counts as done, and when generation gives up; same fields and bounds as
    cdk_app.config.GenerationChecks (a test checks)."""

    # A part with fewer valid examples than this share of what its batch asked for is short: a resumed
    # run asks for it again. The first `abort_after_batches` batches below it, together, stop the run.
    min_valid_share: Annotated[float, Field(ge=0, le=1)] = 0.5
    abort_after_batches: Annotated[int, Field(ge=0, le=100)] = 5
    # Batches that still fail after their retries are tolerated up to this share of the batches.
    max_failed_batch_share: Annotated[float, Field(ge=0, le=1)] = 0.1


class PipelineSettings(_Frozen):
    """The deployment's defaults for every run, from the function's environment."""

    project_name: Annotated[str, Field(min_length=1)]
    stage: Annotated[str, Field(min_length=1)]
    region: Annotated[str, Field(min_length=1)]
    data_bucket: Annotated[str, Field(min_length=3)]
    distillation_role_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")]
    teacher_model_id: Annotated[str, Field(min_length=3)]
    student_model_id: Annotated[str, Field(min_length=3)]
    baseline_model_id: Annotated[str, Field(min_length=3)]
    judge_model_id: Annotated[str, Field(min_length=3)]
    modalities: tuple[str, ...]
    examples: Annotated[int, Field(ge=101, le=16_000)]
    holdout: Annotated[int, Field(ge=1, le=1_000)]
    examples_per_call: Annotated[int, Field(ge=20, le=100)]
    generation_concurrency: Annotated[int, Field(ge=1, le=40)]
    max_response_length: Annotated[int, Field(ge=100, le=4_096)]
    judge: bool
    gate: GateSettings
    wait_seconds: WaitSeconds
    deadlines: Deadlines
    evaluation_candidates: tuple[Candidate, ...] = ("distilled", "student", "baseline")
    generation_checks: GenerationChecks = Field(default_factory=GenerationChecks)
    router_app_tag: Annotated[str, Field(pattern=r"^[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}$")] = "router"

    @field_validator("modalities")
    @classmethod
    def _modalities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return validate_modalities(value)

    @property
    def prefix(self) -> str:
        """Prefix of every Bedrock resource name of this deployment, e.g. "vsr-dev"."""
        return f"{self.project_name}-{self.stage}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PipelineSettings:
        """Parse the function's environment; raise InvalidSettings naming each bad variable."""
        problems: list[str] = []

        def text(name: str) -> str | None:
            value = environ.get(name)
            if value is None or not value.strip():
                problems.append(f"{name} is not set")
                return None
            return value.strip()

        def as_json(name: str) -> object:
            value = text(name)
            if value is None:
                return None
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{name} is not JSON ({exc.msg})")
                return None

        def as_list(name: str, default: str | None = None) -> list[str] | None:
            value = environ.get(name, default) if default is not None else text(name)
            return None if value is None else [part.strip() for part in value.split(",") if part.strip()]

        raw = {
            "project_name": text("PROJECT_NAME"),
            "stage": text("STAGE"),
            "region": text("AWS_REGION"),
            "data_bucket": text("DATA_BUCKET"),
            "distillation_role_arn": text("DISTILLATION_ROLE_ARN"),
            "teacher_model_id": text("TEACHER_MODEL_ID"),
            "student_model_id": text("STUDENT_MODEL_ID"),
            "baseline_model_id": text("BASELINE_MODEL_ID"),
            "judge_model_id": text("JUDGE_MODEL_ID"),
            "modalities": as_list("MODALITIES"),
            "examples": text("EXAMPLES"),
            "holdout": text("HOLDOUT"),
            "examples_per_call": text("EXAMPLES_PER_CALL"),
            "generation_concurrency": text("GENERATION_CONCURRENCY"),
            "max_response_length": text("MAX_RESPONSE_LENGTH"),
            "judge": text("JUDGE"),
            "gate": as_json("GATE"),
            "wait_seconds": as_json("WAIT_SECONDS"),
            "deadlines": {
                "job_hours": text("JOB_DEADLINE_HOURS"),
                "deployment_minutes": text("DEPLOYMENT_DEADLINE_MINUTES"),
                "evaluation_hours": text("EVALUATION_DEADLINE_HOURS"),
            },
            "evaluation_candidates": as_list("EVALUATION_CANDIDATES", "distilled,student,baseline"),
            "generation_checks": as_json("GENERATION_CHECKS") if "GENERATION_CHECKS" in environ else {},
            "router_app_tag": environ.get("ROUTER_APP_TAG", "router").strip(),
        }
        if problems:
            raise InvalidSettings("Function environment incomplete: " + "; ".join(problems))
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise InvalidSettings(f"Function environment invalid: {validation_details(exc)}") from None
