"""Local dry run: one whole distillation run on this machine, with an offline stand-in for Amazon Bedrock.

    make dry-run                                   # 300 examples, 50 held out, report in .dry-run/
    vsr dry-run --examples 500 --holdout 100 --out /tmp/dry
    vsr -c examples_per_call=40 dry-run --modalities visual,audio,transcription,metadata,mood

The configuration is the CDK app's (cdk_app/config.py, same parsing and errors): cdk.json's
context (the nearest cdk.json, or `--cdk-json`), then `-c key=value`, then this command's
flags. The sizes default to the dry run's own 300/50, not cdk.json's (those are a real run's).
Bad values, a bad `--run-id` and an unwritable `--out` are one line naming the flag, before
anything runs.

What runs is what the deployed product runs: the state machine definition
(statemachine/pipeline.asl.json), executed by moto's Step Functions interpreter, with the
real step handlers called in process (cdk_app/local/pipeline.py); S3, SNS and SSM are moto's.
Only Amazon Bedrock is replaced, through the handlers' documented client seam
(`override_clients`), by cdk_app/local/bedrock.py. Nothing leaves the machine and no AWS
account is needed. Wait states take 0 s; Bedrock jobs and deployments advance a step per poll.

ITS NUMBERS ARE NOT MODEL RESULTS. The teacher's queries, every model answer, latency and
token count come from the stand-in's heuristic simulation, seeded (`--seed`): the evaluation
times its calls with the stand-in's simulated clock (routing.clients.override_timer), so two
identical dry runs write identical numbers and gate decisions. Every line printed here starts
with "OFFLINE STAND-IN", the run's report says so at the top (report.json carries
`"offline_stand_in": true`, set through the evaluation steps' OFFLINE_STAND_IN environment
variable), and its notification subject starts with "[offline]". What a dry run does show
for real: that the definition, the handlers, the S3 layout, the dataset checks and the
report work together, and what a run will look like.

`run_dry_run` is the API (the end-to-end test and the CLI use it); `main` is the command line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from routing import clients as lambda_clients
from routing.layout import RunLayout
from routing.observability import logger as handler_logger

from cdk_app.config import AppConfig, ConfigError, load_config
from cdk_app.local.bedrock import offline_clients
from cdk_app.local.dry_run_rollout import MODES as ROLLOUT_MODES
from cdk_app.local.dry_run_rollout import RolloutOutcome, RolloutStage
from cdk_app.local.pipeline import LAMBDAS_DIR, LocalPipeline, load_step_handlers
from cdk_app.local.progress_lines import LABEL, Emit, ProgressLines, rich_progress
from cdk_app.operator.errors import OperatorError
from cdk_app.operator.executions import validate_run_id
from stacks.constructs.function_environment import local_environment
from stacks.constructs.pipeline_definition import (
    PREFIX_SUBSTITUTION,
    TOPIC_SUBSTITUTION,
    load_definition,
    placeholders,
    render,
)

DEFAULT_OUT = Path(".dry-run")
DEFAULT_EXAMPLES = 300
DEFAULT_HOLDOUT = 50
BUCKET = "vsr-dry-run-data"
ACCOUNT = "123456789012"  # moto's account
_FUNCTION_PLACEHOLDER = re.compile(r"^(?P<step>[A-Z][A-Za-z0-9]*)FunctionArn$")


class DryRunError(RuntimeError):
    """The dry run could not start (bad sizes, a definition without a handler); the message says why."""


@dataclass
class DryRunResult:
    """How a dry run ended and where its files are."""

    run_id: str
    status: str
    seconds: float
    run_dir: Path
    files: list[Path] = field(default_factory=list)
    report: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    # The rollout stage (`--rollout`, cdk_app/local/dry_run_rollout.py), when the configuration starts one.
    rollout: RolloutOutcome | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def report_file(self, suffix: str) -> Path | None:
        path = self.run_dir / "report" / f"report.{suffix}"
        return path if path.exists() else None


# ============================================================================ configuration


def load_app_config(
    examples: int | None = None,
    holdout: int | None = None,
    *,
    cdk_json: Path | None = None,
    context: Sequence[tuple[str, str]] = (),
    modalities: Sequence[str] | None = None,
    judge: bool | None = None,
    rollout: str | None = None,
    rollout_percent: float | None = None,
) -> AppConfig:
    """The dry run's configuration: cdk.json's context, then `context` (`-c` pairs), then the flags.

    `cdk_json` None reads the nearest cdk.json like `vsr` does. `examples`/`holdout` None keep a
    `-c` value, else the dry run's defaults. Parsed and checked by cdk_app.config like the CDK
    app's; a bad value raises DryRunError naming the flag (`--examples`, `-c stage`) it came from.
    `rollout` (canary or shadow) and `rollout_percent` set `promotion.on_pass` and `promotion.percent`.
    """
    from cdk_app.operator.session import read_context  # the `vsr` rule for finding and reading cdk.json

    try:
        values: dict[str, Any] = read_context(cdk_json, [])
    except ConfigError as exc:
        raise DryRunError(str(exc)) from None
    origins: dict[str, str] = {}
    # A real run's sizes are not a dry run's: cdk.json's examples/holdout do not apply.
    values.update(examples=DEFAULT_EXAMPLES, holdout=DEFAULT_HOLDOUT)
    for key, value in context:
        values[key], origins[key] = value, f"-c {key}"
    flags = {"examples": examples, "holdout": holdout, "modalities": modalities, "judge": judge}
    for key, value in flags.items():
        if value is not None:
            values[key] = list(value) if key == "modalities" else value
            origins[key] = f"--{key}"
    if rollout_percent is not None and rollout is None:
        raise DryRunError("--rollout-percent: needs --rollout canary or --rollout shadow")
    if rollout is not None:
        if rollout not in ROLLOUT_MODES:
            raise DryRunError(f"--rollout: expected {' or '.join(ROLLOUT_MODES)}, got {rollout!r}")
        percent = 10.0 if rollout_percent is None else rollout_percent
        if not 0 < percent <= 100:
            raise DryRunError(
                f"--rollout-percent: a share of queries above 0 and at most 100, got {percent:g}"
            )
        promotion = values.get("promotion")
        values["promotion"] = {**(promotion if isinstance(promotion, dict) else {}), "on_pass": rollout,
                               "percent": percent}  # fmt: skip
        origins["promotion"] = "--rollout"
    try:
        return load_config(values, origins)
    except ConfigError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
        raise DryRunError("; ".join(lines) or str(exc)) from None


def check_run_id(run_id: str) -> str:
    """The pipeline's rule for run ids (Plan's), checked before anything runs."""
    try:
        return validate_run_id(run_id)
    except OperatorError as exc:
        raise DryRunError(f"--run-id: {exc}") from None


def prepare_out_dir(run_dir: Path) -> Path:
    """Create `run_dir` and prove it is writable before the run, so a bad `--out` costs no run."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DryRunError(f"--out {run_dir.parent}: cannot write {run_dir} ({reason})") from None
    return run_dir


def dry_run_environment(config: AppConfig, *, bucket: str = BUCKET) -> dict[str, str]:
    """The functions' environment, as the CDK stacks set it (stacks/constructs/function_environment.py),
    plus OFFLINE_STAND_IN=true, which the evaluation steps carry into every answer record and the report."""
    return {
        **local_environment(
            config,
            bucket_name=bucket,
            distillation_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{config.prefix}-distillation",
            evaluation_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{config.prefix}-evaluation",
            offline_stand_in=True,
        ),
        # Handlers log and emit metrics for CloudWatch; locally they would drown the progress.
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": f"{config.prefix}-dry-run",
        "POWERTOOLS_METRICS_NAMESPACE": f"{config.prefix}-dry-run",
    }


def step_folders(template: str) -> dict[str, str]:
    """Function name -> lambdas/<folder> for every `${<Step>FunctionArn}` of the definition.

    Folders are the step names in snake case (PrepareDataset -> prepare_dataset), the
    convention of lambdas/ and of the stacks, so evaluation steps wired into the definition
    later are picked up without a list to keep in sync. Raises DryRunError for a placeholder
    the sandbox cannot fill.
    """
    folders: dict[str, str] = {}
    for name in sorted(placeholders(template)):
        if name in {TOPIC_SUBSTITUTION, PREFIX_SUBSTITUTION}:
            continue
        match = _FUNCTION_PLACEHOLDER.match(name)
        if not match:
            raise DryRunError(f"the definition uses ${{{name}}}, which the local sandbox has no value for")
        folder = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group("step")).lower()
        if not (LAMBDAS_DIR / folder / "handler.py").exists():
            raise DryRunError(
                f"the definition uses ${{{name}}} but lambdas/{folder}/handler.py does not exist"
            )
        folders[match.group("step")] = folder
    return folders


def default_run_id(now: datetime | None = None) -> str:
    return f"dry-run-{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}"


# ============================================================================ the run


@contextmanager
def _quiet_handlers() -> Iterator[None]:
    """Handler logs below WARNING stay out of the progress (they are CloudWatch's in AWS)."""
    previous = handler_logger.log_level
    handler_logger.setLevel("WARNING")
    try:
        yield
    finally:
        handler_logger.setLevel(previous)


def run_dry_run(
    examples: int | None = None,
    holdout: int | None = None,
    out_dir: Path = DEFAULT_OUT,
    judge: bool | None = None,
    progress: Emit | None = None,
    *,
    run_id: str | None = None,
    seed: int = 0,
    config: AppConfig | None = None,
    definition: str | None = None,
    timeout: float | None = None,
) -> DryRunResult:
    """Execute the pipeline locally against the offline stand-in; copy the run's files to `out_dir/<run_id>/`.

    `config` (default: `load_app_config(examples, holdout, judge=judge)`) gives the sizes,
    modalities and every other setting; `judge` None keeps its default; `definition` (an ASL
    template with `${...}` placeholders) defaults to statemachine/pipeline.asl.json; `progress`
    receives each line (default: printed with rich). Raises DryRunError before starting when the
    configuration, the run id, the output folder or the definition are unusable; a run that
    fails is a result with `status` FAILED, not an exception.
    """
    started = time.monotonic()
    emit = progress or rich_progress(Console(stderr=False))
    config = config or load_app_config(examples, holdout, judge=judge)
    examples, holdout = config.examples, config.holdout
    template = definition if definition is not None else load_definition()
    folders = step_folders(template)
    run_id = check_run_id(run_id or default_run_id())
    run_dir = prepare_out_dir(Path(out_dir) / run_id)
    printer = ProgressLines(emit, started, run_id)
    printer.line(
        f"local dry run {run_id}: Amazon Bedrock is simulated, numbers are not model results "
        f"({examples} examples, {holdout} held out, modalities {', '.join(config.modalities)})"
    )
    printer.line(
        f"no AWS account is used (moto); model latencies are the stand-in's seeded simulation (seed {seed}), "
        "not measured: identical dry runs give identical numbers"
    )
    execution_input: dict[str, Any] = {
        "examples": examples,
        "holdout": holdout,
        "wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0},
    }
    if judge is not None:
        execution_input["judge"] = judge
    environment = dry_run_environment(config)

    with ExitStack() as stack:
        local = stack.enter_context(
            LocalPipeline(load_step_handlers(folders), environment=environment, region=config.region)
        )
        stack.enter_context(_quiet_handlers())
        topic = local.create_topic(f"{config.prefix}-runs")
        local.create_bucket(BUCKET)
        clients = offline_clients(
            seed=seed,
            s3=local.s3,
            region=local.region,
            account=local.account_id,
            job_polls=3,
            deployment_polls=2,
            evaluation_polls=2,
        )
        # No active-model parameter, as after `cdk deploy`: the first promotion creates it. A rollout
        # (promotion.on_pass shadow or canary) needs a model to roll out against: the stage writes one.
        stage = None
        if config.promotion.on_pass in ROLLOUT_MODES:
            stage = RolloutStage(config, local, clients, printer.line, seed=seed)
            stage.before_run()
        stack.enter_context(lambda_clients.override_clients(clients))
        # The evaluation times each call with the stand-in's simulated clock: deterministic latencies.
        stack.enter_context(lambda_clients.override_timer(clients["bedrock-runtime"].timer))
        substitutions = local.substitutions(topic, prefix=config.prefix)
        substitutions.update(
            {f"{step}FunctionArn": local.function_arn(folder) for step, folder in folders.items()}
        )
        result = local.run(
            render(template, substitutions),
            execution_input,
            name=run_id,
            state_machine_name=f"{config.prefix}-dry-run",
            timeout=timeout or max(120.0, examples / 10),
            on_event=printer,
        )
        rollout = stage.after_run() if stage is not None and result.status == "SUCCEEDED" else None
        files = _copy_run(local.s3, BUCKET, RunLayout(run_id).prefix, run_dir)
        notifications = [item for item in local.notifications() if item["topic"] == topic]

    report = _read_report(run_dir)
    outcome = DryRunResult(
        run_id=run_id,
        status=result.status,
        seconds=time.monotonic() - started,
        run_dir=run_dir,
        files=files,
        report=report,
        error=result.error,
        cause=result.cause,
        notifications=notifications,
        states=result.states_entered(),
        rollout=rollout,
    )
    _summarise(printer, outcome)
    return outcome


def _copy_run(s3: Any, bucket: str, prefix: str, destination: Path) -> list[Path]:
    """Every object of the run (manifest, dataset, evaluation, report) into `destination`."""
    written: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            path = destination / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            written.append(path)
    return sorted(written)


def _read_report(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "report" / "report.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _model_summary(model: Mapping[str, Any]) -> str:
    def number(key: str, spec: str) -> str:
        value = model.get(key)
        return format(value, spec) if isinstance(value, (int, float)) else "-"

    p95 = (model.get("latency_ms") or {}).get("p95")
    return (
        f"mean score {number('mean_score', '.2f')}/5, JSON valid {number('json_validity', '.0%')}, "
        f"dominant modality right {number('dominant_accuracy', '.0%')}, "
        f"p95 {format(p95, '.0f') if isinstance(p95, (int, float)) else '-'} ms"
    )


def _summarise(printer: ProgressLines, result: DryRunResult) -> None:
    if not result.succeeded:
        printer.line(f"run {result.status}: {result.error or ''} {(result.cause or '')[:500]}".rstrip())
    if result.report is None:
        if result.succeeded:
            printer.line("the definition ended without a Report step: no report was written")
    else:
        for model in result.report.get("models", []):
            printer.line(
                f"{model.get('candidate', '?'):>9}: {_model_summary(model)} (simulated, not a model result)"
            )
        html = result.report_file("html")
        printer.line(f"report: {html or result.run_dir / 'report'} (also report.md, report.json)")
    printer.line(
        f"{len(result.files)} files of the run copied to {result.run_dir}/ in {result.seconds:.1f} s"
    )


# ============================================================================ command line


def _context_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vsr dry-run",
        description=(
            "Run the whole distillation pipeline locally (moto + the real handlers) with an OFFLINE "
            "STAND-IN for Amazon Bedrock, and write the run's report. Its numbers are not model results. "
            "Settings: cdk.json's context, then -c KEY=VALUE, then the flags below."
        ),
    )
    parser.add_argument(
        "--examples", type=int, default=None, help=f"examples to generate (default {DEFAULT_EXAMPLES})"
    )
    parser.add_argument(
        "--holdout", type=int, default=None, help=f"held-out examples (default {DEFAULT_HOLDOUT})"
    )
    parser.add_argument(
        "--modalities",
        type=_names,
        default=None,
        metavar="A,B,C",
        help="comma-separated modality set to try (default: cdk.json's `modalities`)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where the run's files go (default %(default)s)"
    )
    parser.add_argument(
        "--judge",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="LLM judge on/off (default: cdk.json)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the stand-in's simulation (default %(default)s)"
    )
    parser.add_argument(
        "--rollout",
        default=None,
        metavar="canary|shadow",
        help="end the run with a rollout (promotion.on_pass), live traffic through the real router, an alarm "
        "and the rollout controller's abort, all offline (docs/dry-run.md)",
    )
    parser.add_argument(
        "--rollout-percent",
        type=float,
        default=None,
        metavar="P",
        help="the rollout's share of queries (default 10)",
    )
    parser.add_argument("--run-id", default=None, help="execution name (default dry-run-<UTC timestamp>)")
    parser.add_argument(
        "-c",
        "--context",
        type=_context_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a cdk.json context value, as `cdk -c` does (repeatable)",
    )
    parser.add_argument(
        "--cdk-json", type=Path, default=None, help="cdk.json to read (default: nearest, else the project's)"
    )
    args = parser.parse_args(argv)
    console = Console()
    try:
        config = load_app_config(
            args.examples,
            args.holdout,
            cdk_json=args.cdk_json,
            context=args.context,
            modalities=args.modalities,
            judge=args.judge,
            rollout=args.rollout,
            rollout_percent=args.rollout_percent,
        )
        result = run_dry_run(
            out_dir=args.out,
            judge=args.judge,
            progress=rich_progress(console),
            run_id=args.run_id,
            seed=args.seed,
            config=config,
        )
    except DryRunError as exc:
        console.print(
            f"[bold black on yellow]{LABEL}[/] dry run not started: {escape(str(exc))}", soft_wrap=True
        )
        return 2
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
