"""The execution input (public contract): every key optional, unknown keys refused.

    {
      "run_id": "nightly-2025-06-01",          resume an earlier run (default: the execution name)
      "examples": 10000,                        total labelled examples (train + holdout)
      "holdout": 100,                           held-out examples for the evaluation
      "teacher_model_id": "...", "student_model_id": "...", "baseline_model_id": "...",
      "judge": true,                            LLM-judge evaluation job on/off
      "dataset_s3_uri": "s3://<bucket>/imports/mine.jsonl",   bring your own labelled JSONL
      "invocation_logs_s3_uri": "s3://.../",    distil from Bedrock invocation logs
      "wait_seconds": {"job": 600, "deployment": 30, "evaluation": 300},
      "gate": {"min_mean_score": 3.5, "max_score_drop": 0.25,
               "min_json_validity": 0.95, "max_p95_latency_ratio": 1.0}
    }

`gate` may only tighten the configured thresholds (Plan refuses a looser value with
InvalidInput): loosening the gate is configuration, a deploy.

Types are strict (JSON numbers, booleans and strings as shown; "500" is not a number).
`parse_execution_input` raises `InvalidInput` listing every unknown or bad key at once.
Cross-key rules (examples vs holdout, models this deployment may use...) are Plan's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidInput

# A Bedrock model id, inference profile id or ARN (same rule as cdk_app.config).
MODEL_ID_PATTERN = (
    r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]*:[0-9]{0,12}:[a-z-]+/)?[a-z0-9][a-zA-Z0-9.:_/-]{2,255}$"
)
# Bedrock's S3Uri shape (CreateModelCustomizationJob), which every URI here ends up in.
S3_URI_PATTERN = (
    r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
)

ModelId = Annotated[str, Field(pattern=MODEL_ID_PATTERN)]
S3Uri = Annotated[str, Field(pattern=S3_URI_PATTERN, max_length=1024)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WaitSecondsInput(_Input):
    job: Annotated[int, Field(ge=0, le=3600)] | None = None
    deployment: Annotated[int, Field(ge=0, le=3600)] | None = None
    evaluation: Annotated[int, Field(ge=0, le=3600)] | None = None


class GateInput(_Input):
    min_mean_score: Annotated[float, Field(ge=1, le=5)] | None = None
    max_score_drop: Annotated[float, Field(ge=0, le=4)] | None = None
    min_json_validity: Annotated[float, Field(ge=0, le=1)] | None = None
    max_p95_latency_ratio: Annotated[float, Field(gt=0, le=100)] | None = None


class ExecutionInput(_Input):
    """What a user may put in the execution input; None means "use the configuration"."""

    run_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")] | None = None
    examples: Annotated[int, Field(ge=1, le=100_000)] | None = None
    holdout: Annotated[int, Field(ge=1, le=1_000)] | None = None
    teacher_model_id: ModelId | None = None
    student_model_id: ModelId | None = None
    baseline_model_id: ModelId | None = None
    judge: bool | None = None
    dataset_s3_uri: S3Uri | None = None
    invocation_logs_s3_uri: S3Uri | None = None
    wait_seconds: WaitSecondsInput | None = None
    gate: GateInput | None = None

    def overrides(self) -> dict[str, Any]:
        """The keys the user set (nested objects too), as plain JSON values."""
        return self.model_dump(exclude_none=True)


INPUT_KEYS: tuple[str, ...] = tuple(ExecutionInput.model_fields)
_PATTERN_HINTS = {
    MODEL_ID_PATTERN: "a Bedrock model id, inference profile id or ARN",
    S3_URI_PATTERN: "an s3://bucket/key URI (letters, digits and -!_*'(). in keys)",
}
_QUOTED_PATTERN = re.compile(r"String should match pattern '(.*)'$")


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    match = _QUOTED_PATTERN.match(message)
    if match:
        return f"should be {_PATTERN_HINTS.get(match.group(1), 'a value matching ' + match.group(1))}"
    return message[:1].lower() + message[1:]


def parse_execution_input(raw: Any) -> ExecutionInput:
    """Validate the execution input; raise InvalidInput listing unknown keys and bad values."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"the execution input must be a JSON object, got {type(raw).__name__}")
    try:
        return ExecutionInput.model_validate(raw)
    except ValidationError as exc:
        unknown: list[str] = []
        bad: list[str] = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                unknown.append(key)
            else:
                bad.append(f"'{key}' {_message(error)} (got {error.get('input')!r})")
        parts = []
        if unknown:
            parts.append(
                "unknown keys "
                + ", ".join(f"'{key}'" for key in unknown)
                + f" (allowed: {', '.join(INPUT_KEYS)})"
            )
        parts.extend(bad)
        raise InvalidInput("Invalid execution input: " + "; ".join(parts)) from None
