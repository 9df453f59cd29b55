"""Options shared by several commands, and their parsing.

The run overrides of `vsr start` and `vsr cost` (examples, models, judge, gate, waits) become
the execution input's overrides and the configuration they amount to, checked by the same
`AppConfig` model as cdk.json; `--yes` skips the confirmation of the commands that change things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from routing.settings import gate_loosenings

from cdk_app.config import AppConfig
from cdk_app.operator.session import parse_pairs

_MODEL_OPTIONS = {
    "teacher": "teacher_model_id",
    "student": "student_model_id",
    "baseline": "baseline_model_id",
}
_OPTION_OF_FIELD = {
    "examples": "--examples",
    "holdout": "--holdout",
    "judge": "--judge",
    "gate": "--gate",
    "wait_seconds": "--wait-seconds",
    **{f: f"--{o}" for o, f in _MODEL_OPTIONS.items()},
}


def run_overrides(
    config: AppConfig,
    *,
    examples: int | None = None,
    holdout: int | None = None,
    teacher: str | None = None,
    student: str | None = None,
    baseline: str | None = None,
    judge: bool | None = None,
    gate: Sequence[str] = (),
    wait_seconds: Sequence[str] = (),
) -> tuple[dict[str, Any], AppConfig]:
    """(execution input overrides, the configuration they amount to); usage errors name the option."""
    payload: dict[str, Any] = {}
    for key, value in (
        ("examples", examples),
        ("holdout", holdout),
        ("judge", judge),
        ("teacher_model_id", teacher),
        ("student_model_id", student),
        ("baseline_model_id", baseline),
    ):
        if value is not None:
            payload[key] = value
    # Gate and waits are partial objects: Plan fills the keys not given from the deployed configuration.
    gate_given = parse_pairs(gate, "--gate")
    waits_given = parse_pairs(wait_seconds, "--wait-seconds")
    if gate_given:
        payload["gate"] = {**config.gate.model_dump(), **gate_given}
    if waits_given:
        payload["wait_seconds"] = {**config.wait_seconds.model_dump(), **waits_given}
    try:
        effective = AppConfig.model_validate({**config.model_dump(), **payload})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first.get("loc", ())]
        option = _OPTION_OF_FIELD.get(loc[0], "") if loc else ""
        detail = (f"{'.'.join(loc[1:])}: " if len(loc) > 1 else "") + str(first.get("msg", "")).removeprefix(
            "Value error, "
        )
        raise typer.BadParameter(detail, param_hint=option or None) from None
    # Numbers typed as text go out typed: the execution input is strict JSON.
    if gate_given:
        payload["gate"] = {key: getattr(effective.gate, key) for key in gate_given}
        loosened = gate_loosenings(config.gate.model_dump(), payload["gate"])
        if loosened:
            raise typer.BadParameter(loosened[0], param_hint="--gate")
    if waits_given:
        payload["wait_seconds"] = {key: getattr(effective.wait_seconds, key) for key in waits_given}
    return payload, effective


# Options shared by `start` and `cost`.
ExamplesOpt = Annotated[int | None, typer.Option(help="Labelled examples to generate (train + held-out).")]
HoldoutOpt = Annotated[int | None, typer.Option(help="Held-out examples for evaluation.")]
TeacherOpt = Annotated[str | None, typer.Option(help="Teacher model id or inference profile.")]
StudentOpt = Annotated[str | None, typer.Option(help="Student model id.")]
BaselineOpt = Annotated[str | None, typer.Option(help="Incumbent model the distilled one is compared with.")]
JudgeOpt = Annotated[
    bool | None, typer.Option("--judge/--no-judge", help="Run the LLM judge (default: config).")
]
# Option of the commands that change things (promote, rollback, cleanup).
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
