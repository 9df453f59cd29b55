"""Typed environments of the evaluation Lambdas, parsed once per invocation.

Environment variables are set by the `EvaluationSteps` construct; a bad environment raises
`InvalidEvent` naming the variable. The execution state and the steps' events are in
`routing.state`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routing.errors import InvalidEvent
from routing.pipeline.settings import GateSettings as GateThresholds  # Plan's and Report's gate


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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
