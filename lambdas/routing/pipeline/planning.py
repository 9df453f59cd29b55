"""Plan: validate a run before anything is paid for, write its manifest, plan the teacher batches.

Order matters: the execution input and the settings it resolves to are checked first
(no AWS call), then a gold set is read and checked (`GoldSetInvalid`, every bad line
numbered), then the models through Bedrock's GetFoundationModel (free), and only then is
anything written. A run that cannot succeed fails here with a named error
naming the configuration key to change, not hours later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routing.model_ids import PROFILE_GEOGRAPHIES

from ..errors import InvalidInput, ModelEndOfLife, ModelNotAvailable, ModelNotDistillable
from ..gold import gold_uri_problem, load_gold
from ..layout import IMPORTS_PREFIX, INVOCATION_LOGS_PREFIX, RunLayout, split_s3_uri
from ..settings import (
    ANSWER_OVERHEAD_TOKENS,
    MAX_EXAMPLES_PER_CALL,
    MAX_TRAINING_RECORDS,
    MIN_TRAINING_RECORDS,
    POLL_BUDGETS,
    TEACHER_MAX_OUTPUT_TOKENS,
    TOKENS_PER_EXAMPLE,
    PipelineSettings,
    gate_loosenings,
    shortest_waits,
)
from ..state import MIXED_FOCUS, Batch, PlanEvent, RunSettings, RunState
from ..storage import exists, get_json, list_keys, put_json
from .bedrock import get_foundation_model
from .inputs import ExecutionInput, parse_execution_input
from .names import run_names, validate_run_id

MANIFEST_SCHEMA_VERSION = 1
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
# Teacher items lost to duplicates or invalid answers are made up by asking for a little more...
GENERATION_OVERSHOOT = 0.05
# ...within a budget of one teacher call per 20 wanted examples (10,000 examples: <= 500 calls).
EXAMPLES_PER_CALL_BUDGET = 20
# Step Functions Standard ends an execution at 25,000 history events. A poll iteration writes 9
# (Wait 2, Task 5, Choice 2), a Map iteration 7 plus 3 per retry (one retry counted per batch), and
# the other states, the Evaluate loop and the notifications stay within the reserve (the
# state-machine tests count these in moto's history).
HISTORY_EVENT_LIMIT = 25_000
EVENTS_PER_POLL = 9
EVENTS_PER_BATCH = 10
RESERVED_EVENTS = 1_000
# Settings a resumed run keeps from its manifest: its data was made with them.
RUN_DEFINING_SETTINGS: tuple[str, ...] = (
    "examples",
    "holdout",
    "teacher_model_id",
    "student_model_id",
    "modalities",
    "dataset_s3_uri",
    "invocation_logs_s3_uri",
    "examples_per_call",
    "max_response_length",
    # Prepare dataset kept its queries out of training.
    "gold_s3_uri",
)


# ------------------------------------------------------------------------------ settings


def resolve_settings(
    settings: PipelineSettings,
    request: ExecutionInput,
    run_id: str,
    previous: Mapping[str, Any] | None = None,
) -> RunSettings:
    """The run's settings: configuration <- the resumed run's manifest <- the input's overrides.

    Raises InvalidInput listing every rule broken, each naming the key to change.
    """
    overrides = request.overrides()
    overrides.pop("run_id", None)
    resolved: dict[str, Any] = {
        "examples": settings.examples,
        "holdout": settings.holdout,
        "teacher_model_id": settings.teacher_model_id,
        "student_model_id": settings.student_model_id,
        "baseline_model_id": settings.baseline_model_id,
        "judge": settings.judge,
        "judge_model_id": settings.judge_model_id,
        "modalities": list(settings.modalities),
        "gate": settings.gate.model_dump(),
        "wait_seconds": settings.wait_seconds.model_dump(),
        "evaluation_candidates": list(settings.evaluation_candidates),
        "dataset_s3_uri": None,
        "invocation_logs_s3_uri": None,
        "examples_per_call": settings.examples_per_call,
        "generation_concurrency": settings.generation_concurrency,
        "max_response_length": settings.max_response_length,
        "deadlines": settings.deadlines.model_dump(),
        "generation_checks": settings.generation_checks.model_dump(),
        "gold_s3_uri": settings.gold_s3_uri,
        "gold_teacher": settings.gold_teacher,
        "gate_reference": settings.gate_reference,
    }
    for key, value in overrides.items():
        resolved[key] = {**resolved[key], **value} if isinstance(value, dict) else value
    problems: list[str] = gate_loosenings(settings.gate.model_dump(), overrides.get("gate", {}))
    for key in RUN_DEFINING_SETTINGS:
        if previous and key in previous:
            if key in overrides and overrides[key] != previous[key]:
                problems.append(
                    f"'{key}': run {run_id} was started with {previous[key]!r}, not {overrides[key]!r}; "
                    "resume it without this override, or start a new run"
                )
            resolved[key] = previous[key]

    examples, holdout = resolved["examples"], resolved["holdout"]
    if examples < holdout + MIN_TRAINING_RECORDS:
        problems.append(
            f"'examples' ({examples}) must be at least holdout + {MIN_TRAINING_RECORDS} "
            f"({holdout + MIN_TRAINING_RECORDS}): Bedrock needs {MIN_TRAINING_RECORDS} training records"
        )
    if examples > MAX_TRAINING_RECORDS + holdout:
        problems.append(
            f"'examples' ({examples}) must be at most {MAX_TRAINING_RECORDS:,} + holdout "
            f"({MAX_TRAINING_RECORDS + holdout}): Bedrock's limit on training records"
        )
    # The IAM grants (generate function, distillation role, evaluate function) name the configured
    # models. A baseline is also the gate's yardstick: another one (say, a deployment of this account,
    # which Evaluate may invoke) would loosen the score-drop and latency checks, so it is configuration too.
    for key in ("teacher_model_id", "student_model_id", "baseline_model_id"):
        configured = getattr(settings, key)
        if resolved[key] != configured:
            problems.append(
                f"'{key}' {resolved[key]!r}: this deployment is configured, and its IAM grants scoped, for "
                f"{configured!r}; deploy with `cdk deploy -c {key}={resolved[key]}` to use another model"
            )
    if resolved["dataset_s3_uri"] and resolved["invocation_logs_s3_uri"]:
        problems.append("'dataset_s3_uri' and 'invocation_logs_s3_uri' exclude each other: give one source")
    if resolved["dataset_s3_uri"]:
        bucket, key = split_s3_uri(resolved["dataset_s3_uri"])
        if bucket != settings.data_bucket or not key.startswith(IMPORTS_PREFIX) or key == IMPORTS_PREFIX:
            problems.append(
                f"'dataset_s3_uri' must be under s3://{settings.data_bucket}/{IMPORTS_PREFIX} "
                "(the pipeline may read only there): copy your labelled JSONL there"
            )
    if resolved["invocation_logs_s3_uri"]:
        bucket, key = split_s3_uri(resolved["invocation_logs_s3_uri"])
        if bucket != settings.data_bucket or not key.startswith(INVOCATION_LOGS_PREFIX):
            problems.append(
                f"'invocation_logs_s3_uri' must be under s3://{settings.data_bucket}/{INVOCATION_LOGS_PREFIX} "
                "(the only logs the distillation role may read): point Bedrock's model invocation logging there"
            )
    problems.extend(_gold_problems(settings, resolved, overrides))
    waits, deadlines = resolved["wait_seconds"], resolved["deadlines"]
    shortest = shortest_waits(
        deadlines["job_hours"], deadlines["deployment_minutes"], deadlines["evaluation_hours"]
    )
    for loop, deadline_key in (
        ("job", "job_deadline_hours"),
        ("deployment", "deployment_deadline_minutes"),
        ("evaluation", "evaluation_deadline_hours"),
    ):
        if 0 < waits[loop] < shortest[loop]:
            problems.append(
                f"'wait_seconds.{loop}' ({waits[loop]}) must be 0 (poll at once: tests, dry run) or at least "
                f"{shortest[loop]} s, so that {deadline_key} fits in {POLL_BUDGETS[loop]} polls "
                "(Step Functions' 25,000 history events)"
            )
    per_call = resolved["examples_per_call"]
    if max_tokens_for(per_call) > TEACHER_MAX_OUTPUT_TOKENS:
        problems.append(
            f"'examples_per_call' ({per_call}) needs more than {TEACHER_MAX_OUTPUT_TOKENS:,} output tokens per "
            f"teacher answer: use at most {MAX_EXAMPLES_PER_CALL}"
        )
    if problems:
        raise InvalidInput(f"Run {run_id} cannot start: " + "; ".join(problems))
    return RunSettings.model_validate(resolved)


def _gold_problems(
    settings: PipelineSettings, resolved: Mapping[str, Any], overrides: Mapping[str, Any]
) -> list[str]:
    """The gold set's rules: one object under imports/; the gate decides on it only when it is configured."""
    uri = resolved["gold_s3_uri"]
    problems = []
    if uri:
        problem = gold_uri_problem(uri, settings.data_bucket)
        if problem:
            problems.append(problem)
    if settings.gate_reference == "gold":
        if not uri:
            problems.append(
                "the gate decides on the gold set (gate_reference 'gold') but the run has none: configure "
                "gold_s3_uri, or deploy with -c gate_reference=teacher"
            )
        elif "gold_s3_uri" in overrides and overrides["gold_s3_uri"] != settings.gold_s3_uri:
            # Whoever starts a run would choose the references the gate decides on: that is configuration.
            problems.append(
                f"'gold_s3_uri': the gate decides on the configured gold set ({settings.gold_s3_uri}); a run may "
                "not bring another one (change gold_s3_uri in the configuration, a deploy)"
            )
    return problems


def worst_case_history_events(batches: int) -> int:
    """History events of a run whose every poll loop reaches its budget, with `batches` teacher batches."""
    return sum(POLL_BUDGETS.values()) * EVENTS_PER_POLL + batches * EVENTS_PER_BATCH + RESERVED_EVENTS


def check_history_budget(run_id: str, batches: int) -> None:
    """InvalidInput when the run's worst case would pass Step Functions' history event limit."""
    worst = worst_case_history_events(batches)
    if worst > HISTORY_EVENT_LIMIT:
        most = (HISTORY_EVENT_LIMIT - worst_case_history_events(0)) // EVENTS_PER_BATCH
        raise InvalidInput(
            f"Run {run_id} cannot start: {batches} teacher batches and poll loops of "
            f"{', '.join(f'{loop} {budget}' for loop, budget in POLL_BUDGETS.items())} polls could write "
            f"{worst:,} history events, more than Step Functions' {HISTORY_EVENT_LIMIT:,}: lower 'examples' "
            f"or raise 'examples_per_call' (at most {most} batches)"
        )


def max_tokens_for(count: int) -> int:
    """Output tokens to allow a teacher answer of `count` examples."""
    return ANSWER_OVERHEAD_TOKENS + TOKENS_PER_EXAMPLE * count


# ------------------------------------------------------------------------------ models


def foundation_model_id(model_id: str) -> str | None:
    """The foundation model behind a model id, profile id or ARN; None for custom models/deployments."""
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[-1]
        kind, _, tail = resource.partition("/")
        if kind == "foundation-model":
            return tail
        if kind == "inference-profile":
            model_id = tail
        else:
            return None
    head, _, rest = model_id.partition(".")
    if head in PROFILE_GEOGRAPHIES and "." in rest:
        return rest
    return model_id


@dataclass(frozen=True)
class Lifecycle:
    """A foundation model's lifecycle as GetFoundationModel reports it (`modelDetails.modelLifecycle`)."""

    status: str
    end_of_life: datetime | None

    def ended(self, now: datetime) -> bool:
        return self.status == "LEGACY" and self.end_of_life is not None and self.end_of_life <= now

    def legacy_warning(self, key: str, model_id: str) -> str | None:
        """The warning for a Legacy model still usable; None for an Active one."""
        if self.status != "LEGACY":
            return None
        when = f" (end of life {self.end_of_life.date()})" if self.end_of_life else ""
        return (
            f"{key} {model_id!r} is Legacy in Bedrock{when}: new accounts cannot start using it "
            f"and runs fail after its end of life; plan to change {key}"
        )


def lifecycle_of(details: Mapping[str, Any]) -> Lifecycle:
    lifecycle = details.get("modelLifecycle") or {}
    return Lifecycle(str(lifecycle.get("status", "ACTIVE")), lifecycle.get("endOfLifeTime"))


def distillable(details: Mapping[str, Any]) -> bool:
    return "DISTILLATION" in (details.get("customizationsSupported") or [])


@dataclass(frozen=True)
class ModelRole:
    role: str
    key: str
    model_id: str


def models_to_check(run: RunSettings) -> list[ModelRole]:
    roles = [
        ModelRole("teacher", "teacher_model_id", run.teacher_model_id),
        ModelRole("student", "student_model_id", run.student_model_id),
    ]
    if "baseline" in run.evaluation_candidates:
        roles.append(ModelRole("baseline", "baseline_model_id", run.baseline_model_id))
    if run.judge:
        roles.append(ModelRole("judge", "judge_model_id", run.judge_model_id))
    return roles


def check_models(
    bedrock: Any, run: RunSettings, region: str, now: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """Ask Bedrock about every model the run will use; returns (model records, warnings).

    Raises ModelNotAvailable (unknown in the region), ModelEndOfLife (past end of life) or
    ModelNotDistillable (the student cannot be distilled), each naming the key to change.
    A Legacy model that is still usable becomes a warning carried into the manifest,
    the report and the notification.
    """
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    seen: dict[str, dict[str, Any] | None] = {}
    for item in models_to_check(run):
        base = foundation_model_id(item.model_id)
        record: dict[str, Any] = {"role": item.role, "model_id": item.model_id, "foundation_model_id": base}
        if base is None:
            record["lifecycle"] = "UNCHECKED"
            warnings.append(
                f"{item.key} {item.model_id!r} is not a foundation model: its lifecycle is not checked"
            )
            records.append(record)
            continue
        if base not in seen:
            seen[base] = get_foundation_model(bedrock, base)
        details = seen[base]
        if details is None:
            hint = (
                "set judge=false or change judge_model_id" if item.role == "judge" else f"change {item.key}"
            )
            raise ModelNotAvailable(
                f"{item.key} {item.model_id!r}: Bedrock has no foundation model {base!r} in {region}; {hint} "
                "(cdk.json context, or the execution input where it is an input key)"
            )
        lifecycle = lifecycle_of(details)
        end_of_life = lifecycle.end_of_life
        record.update(
            lifecycle=lifecycle.status, end_of_life=end_of_life.isoformat() if end_of_life else None
        )
        if lifecycle.ended(now):
            raise ModelEndOfLife(
                f"{item.key} {item.model_id!r} reached its end of life on {end_of_life.date()}: change {item.key}"  # type: ignore[union-attr]
            )
        warning = lifecycle.legacy_warning(item.key, item.model_id)
        if warning:
            warnings.append(warning)
        if item.role == "student" and not distillable(details):
            raise ModelNotDistillable(
                f"student_model_id {item.model_id!r} does not support DISTILLATION in {region} "
                f"(supports: {', '.join(details.get('customizationsSupported') or []) or 'none'}); "
                "change student_model_id (e.g. amazon.nova-micro-v1:0:128k)"
            )
        records.append(record)
    return records, warnings


# ------------------------------------------------------------------------------ batches


def generation_target(run: RunSettings) -> int:
    """How many examples to ask the teacher for (0 when a dataset is brought)."""
    if run.mode == "dataset":
        return 0
    # From invocation logs, Bedrock's teacher answers the logged prompts; only the held-out
    # set (with reference answers) is generated.
    wanted = run.holdout if run.mode == "invocation_logs" else run.examples
    with_overshoot = math.ceil(wanted * (1 + GENERATION_OVERSHOOT))
    budget = run.examples_per_call * math.ceil(wanted / EXAMPLES_PER_CALL_BUDGET)
    return min(with_overshoot, budget)


def plan_batches(total: int, per_call: int, modalities: Sequence[str]) -> list[Batch]:
    """Batches of at most `per_call` examples, cycling focus (each modality, then mixed) and difficulty."""
    focuses = [*modalities, MIXED_FOCUS]
    batches: list[Batch] = []
    remaining = total
    index = 0
    while remaining > 0:
        count = min(per_call, remaining)
        batches.append(
            Batch(
                batch=index,
                focus=focuses[index % len(focuses)],
                difficulty=DIFFICULTIES[(index // len(focuses)) % len(DIFFICULTIES)],
                count=count,
            )
        )
        remaining -= count
        index += 1
    return batches


# ------------------------------------------------------------------------------ the step


def plan_run(
    event: PlanEvent, *, settings: PipelineSettings, bedrock: Any, s3: Any, now: datetime
) -> dict[str, Any]:
    """Validate, check models, write the manifest; returns {"run": ..., "generation": ...}."""
    request = parse_execution_input(event.input)
    run_id = validate_run_id(request.run_id or event.execution.name)
    layout = RunLayout(run_id)
    bucket = settings.data_bucket

    previous = get_json(s3, bucket, layout.manifest_key)
    previous_settings = (previous or {}).get("settings")
    run_settings = resolve_settings(settings, request, run_id, previous_settings)
    if run_settings.dataset_s3_uri:
        _check_dataset_exists(s3, run_settings.dataset_s3_uri)
    gold = (
        load_gold(s3, run_settings.gold_s3_uri, run_settings.modalities) if run_settings.gold_s3_uri else []
    )

    models, warnings = check_models(bedrock, run_settings, settings.region, now)
    if tuple(run_settings.modalities) != settings.modalities:
        warnings.append(
            f"run {run_id} keeps the modalities it started with ({', '.join(run_settings.modalities)}), "
            f"not the configured ones ({', '.join(settings.modalities)})"
        )

    dataset_ready = exists(s3, bucket, layout.stats_key)
    target = 0 if dataset_ready else generation_target(run_settings)
    batches = plan_batches(target, run_settings.examples_per_call, run_settings.modalities)
    check_history_budget(run_id, len(batches))

    run = RunState(
        run_id=run_id,
        bucket=bucket,
        prefix=layout.prefix,
        manifest_key=layout.manifest_key,
        settings=run_settings,
        warnings=warnings,
    )
    names = run_names(settings.prefix, run_id)
    # A retried Plan (same execution) records its execution once.
    current = event.execution.model_dump()
    executions = [
        *(item for item in (previous or {}).get("executions", []) if item != current),
        current,
    ]
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": (previous or {}).get("created_at") or now.isoformat(),
        "updated_at": now.isoformat(),
        "executions": executions,
        "input": request.overrides(),
        "mode": run_settings.mode,
        "settings": run_settings.model_dump(mode="json"),
        "models": models,
        "warnings": warnings,
        "names": names.to_dict(),
        "generation": {
            "target": target,
            "batches": len(batches),
            "examples_per_call": run_settings.examples_per_call,
            "dataset_already_prepared": dataset_ready,
        },
        "gold": {"s3_uri": run_settings.gold_s3_uri, "examples": len(gold)} if gold else None,
    }
    put_json(s3, bucket, layout.manifest_key, manifest)
    return {
        "run": run.model_dump(mode="json"),
        "generation": {
            "items": [batch.model_dump() for batch in batches],
            "target": target,
            "examples_per_call": run_settings.examples_per_call,
        },
    }


def _check_dataset_exists(s3: Any, uri: str) -> None:
    bucket, key = split_s3_uri(uri)
    if key.endswith("/"):
        if next(iter(list_keys(s3, bucket, key)), None) is None:
            raise InvalidInput(f"'dataset_s3_uri' {uri}: no objects under this prefix")
    elif not exists(s3, bucket, key):
        raise InvalidInput(f"'dataset_s3_uri' {uri}: no such object")
