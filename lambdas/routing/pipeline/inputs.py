"""The execution input (public contract): every key optional, unknown keys refused.

    {
      "run_id": "nightly-2025-06-01",          resume an earlier run (default: the execution name)
      "examples": 10000,                        total labelled examples (train + holdout)
      "holdout": 100,                           held-out examples for the evaluation
      "teacher_model_id": "...", "student_model_id": "...", "baseline_model_id": "...",
      "judge": true,                            LLM-judge evaluation job on/off
      "dataset_s3_uri": "s3://<bucket>/imports/mine.jsonl",   bring your own labelled JSONL
      "invocation_logs_s3_uri": "s3://.../",    distil from Bedrock invocation logs
      "gold_s3_uri": "s3://<bucket>/imports/gold.jsonl",      a gold set: labelled JSONL written by people
      "wait_seconds": {"job": 600, "deployment": 30, "evaluation": 300},
      "gate": {"min_mean_score": 3.5, "max_score_drop": 0.25,
               "min_json_validity": 0.95, "max_p95_latency_ratio": 1.0}
    }

`gate` may only tighten the configured thresholds (Plan refuses a looser value with
InvalidInput): loosening the gate is configuration, a deploy. For the same reason, which
references the gate decides on (`gate_reference`) is configuration only, and when it is
"gold" a run may not bring another gold set than the configured one.

Types are strict (JSON numbers, booleans and strings as shown; "500" is not a number).
`parse_execution_input` raises `InvalidInput` listing every unknown or bad key at once.
Cross-key rules (examples vs holdout, models this deployment may use...) are Plan's.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ..errors import InvalidInput
from ..settings import (
    MODEL_ID_HINT,
    MODEL_ID_PATTERN,
    S3_URI_PATTERN,
    GateThresholds,
    Holdout,
    ModelId,
    S3Uri,
    WaitSeconds,
)

_INPUT = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Input(BaseModel):
    model_config = _INPUT


def _overrides_of(model: type[BaseModel]) -> type[BaseModel]:
    """`model`'s fields with their bounds, each optional (None: the configured value), types strict."""
    fields: dict[str, Any] = {
        name: (Annotated[(field.annotation, *field.metadata)] | None, None)
        for name, field in model.model_fields.items()
    }
    return create_model(f"{model.__name__}Input", __config__=_INPUT, **fields)


WaitSecondsInput = _overrides_of(WaitSeconds)
GateInput = _overrides_of(GateThresholds)


class ExecutionInput(_Input):
    """What a user may put in the execution input; None means "use the configuration"."""

    run_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")] | None = None
    examples: Annotated[int, Field(ge=1, le=100_000)] | None = None
    holdout: Holdout | None = None
    teacher_model_id: ModelId | None = None
    student_model_id: ModelId | None = None
    baseline_model_id: ModelId | None = None
    judge: bool | None = None
    dataset_s3_uri: S3Uri | None = None
    invocation_logs_s3_uri: S3Uri | None = None
    gold_s3_uri: S3Uri | None = None
    wait_seconds: WaitSecondsInput | None = None
    gate: GateInput | None = None

    def overrides(self) -> dict[str, Any]:
        """The keys the user set (nested objects too), as plain JSON values."""
        return self.model_dump(exclude_none=True)


INPUT_KEYS: tuple[str, ...] = tuple(ExecutionInput.model_fields)
_PATTERN_HINTS = {
    MODEL_ID_PATTERN: MODEL_ID_HINT,
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
