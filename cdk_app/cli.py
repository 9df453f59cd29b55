"""`vsr`: the operator CLI of the video search router distillation pipeline.

Preview what a run costs, start it, watch it, read its report, try the router, promote or
roll back, and clean up what bills. The configuration is read like the CDK app reads it
(cdk.json's context plus `-c key=value`), stack outputs are discovered from CloudFormation,
and every user error is one red line on stderr with exit code 1 (2 for usage and
configuration errors), never a traceback (VSR_DEBUG=1 shows one for unexpected errors).

Layout: commands parse options and call `cdk_app.operator_api.Operator` (AWS access) or
`cdk_app.cost` (pure), then render. The renderers take plain data: `progress_from` (in
operator_api) turns any execution history into a `Progress`, and `render_progress`,
`progress_line`, `show_outcome` and `show_report` print it; so a command that drives the
pipeline elsewhere (the local dry run) is one more `@app.command()` that feeds them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from routing.active_model import ActiveModel
from routing.pipeline.inputs import S3_URI_PATTERN
from routing.pipeline.settings import gate_loosenings
from typer.core import TyperGroup

from cdk_app import cost as costing
from cdk_app.config import AppConfig, ConfigError, load_config
from cdk_app.operator_api import (
    OUTPUT_ACTIVE_MODEL_PARAMETER,
    OUTPUT_BUCKET,
    OUTPUT_ROUTE_URL,
    OUTPUT_STATE_MACHINE,
    PIPELINE,
    ROUTER_API,
    STORAGE,
    CleanupPlan,
    CleanupResult,
    Operator,
    OperatorError,
    Progress,
    StackNotDeployed,
    explain_error,
    new_run_id,
    validate_run_id,
)

out = Console(highlight=False, soft_wrap=True)  # long lines (links, ARNs) stay copyable
err = Console(stderr=True, highlight=False, soft_wrap=True)

REPO_ROOT = Path(__file__).resolve().parents[1]
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
_S3_URI = re.compile(S3_URI_PATTERN)  # the execution input's own rule


# --------------------------------------------------------------------------- session state


@dataclass
class Overrides:
    """Test and embedding hook: `CliRunner().invoke(app, args, obj=Overrides(clients={...}))`."""

    clients: dict[str, Any] = field(default_factory=dict)
    client_factory: Callable[[str], Any] | None = None


@dataclass
class CliState:
    cdk_json: Path | None
    context_args: list[str]
    region_arg: str | None
    profile: str | None
    overrides: Overrides
    _config: AppConfig | None = None
    _operator: Operator | None = None

    @property
    def config(self) -> AppConfig:
        if self._config is None:
            given = {key: f"-c {key}" for key in parse_pairs(self.context_args, "-c")}
            self._config = load_config(read_context(self.cdk_json, self.context_args), given)
        return self._config

    @property
    def region(self) -> str:
        return self.region_arg or self.config.region

    def operator(self) -> Operator:
        if self._operator is None:
            factory = self.overrides.client_factory
            credentials: Callable[[], Any] | None = None
            if factory is None:
                session = boto3.Session(profile_name=self.profile, region_name=self.region)
                factory, credentials = session.client, session.get_credentials
            else:
                credentials = boto3.Session(region_name=self.region).get_credentials
            clients, make = self.overrides.clients, factory
            self._operator = Operator(
                self.config, self.region, lambda name: clients.get(name) or make(name), credentials
            )
        return self._operator


def find_cdk_json(explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such file (--cdk-json)")
        return explicit
    for folder in [Path.cwd(), *Path.cwd().parents]:
        candidate = folder / "cdk.json"
        if candidate.is_file():
            return candidate
    return REPO_ROOT / "cdk.json"


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; a usage error names the option otherwise."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        result[key.strip()] = value.strip()
    return result


def read_context(cdk_json: Path | None, context_args: Sequence[str]) -> dict[str, Any]:
    """cdk.json's context overridden by `-c key=value`, as the CDK CLI would pass them to the app."""
    path = find_cdk_json(cdk_json)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    context = dict(document.get("context", {})) if isinstance(document, dict) else {}
    context.update(parse_pairs(context_args, "-c"))
    return context


def _state(ctx: typer.Context) -> CliState:
    state = ctx.find_root().obj
    if not isinstance(state, CliState):
        raise RuntimeError("the vsr callback did not run")  # only when a command is invoked outside `app`
    return state


# --------------------------------------------------------------------------- errors


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(message, style="red"))
    return typer.Exit(code)


def _region_of(state: object) -> str:
    if not isinstance(state, CliState):
        return "the configured region"
    try:
        return state.region
    except ConfigError:
        return state.region_arg or "the configured region"


class _Commands(TyperGroup):
    """Turns every user-fixable error of any command into one red line and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except ConfigError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise fail(" ".join(lines) if len(lines) <= 2 else "\n  ".join(lines), 2) from None
        except OperatorError as exc:
            raise fail(str(exc)) from None
        except Exception as exc:
            message = explain_error(exc, _region_of(ctx.obj))
            if message is None:
                if os.environ.get("VSR_DEBUG"):
                    raise
                message = f"unexpected {type(exc).__name__}: {exc} (set VSR_DEBUG=1 to see the traceback)"
            raise fail(message) from None


app = typer.Typer(
    cls=_Commands,
    name="vsr",
    help="Operate the video search router distillation pipeline: cost, start, watch, report, route, "
    "promote, rollback, cleanup.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Option(help="AWS region (default: `region` in cdk.json).")] = None,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (default: AWS_PROFILE or the default chain).")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            "-c",
            metavar="KEY=VALUE",
            help="Override a cdk.json context value, as `cdk -c` does (e.g. -c stage=prod).",
        ),
    ] = None,
    cdk_json: Annotated[
        Path | None, typer.Option(help="cdk.json to read (default: nearest, else the project's).")
    ] = None,
) -> None:
    if region is not None and not _REGION.match(region):
        raise typer.BadParameter(
            f"{region!r} is not an AWS region name (e.g. us-east-1)", param_hint="--region"
        )
    overrides = ctx.obj if isinstance(ctx.obj, Overrides) else Overrides()
    ctx.obj = CliState(cdk_json, list(context or []), region, profile, overrides)


# --------------------------------------------------------------------------- formatting helpers


def format_duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def format_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def _number(value: Any, digits: int = 2, suffix: str = "") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.{digits}f}{suffix}"


_STATUS_STYLE = {
    "SUCCEEDED": "green",
    "RUNNING": "cyan",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "yellow",
    "PENDING_REDRIVE": "yellow",
}


def status_text(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


# --------------------------------------------------------------------------- run overrides


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


def _s3_uri(value: str | None, option: str) -> str | None:
    if value is not None and not _S3_URI.match(value):
        raise typer.BadParameter(f"{value!r} is not an s3://bucket/prefix URI", param_hint=option)
    return value


# Options shared by `start` and `cost`.
ExamplesOpt = Annotated[int | None, typer.Option(help="Labelled examples to generate (train + held-out).")]
HoldoutOpt = Annotated[int | None, typer.Option(help="Held-out examples for evaluation.")]
TeacherOpt = Annotated[str | None, typer.Option(help="Teacher model id or inference profile.")]
StudentOpt = Annotated[str | None, typer.Option(help="Student model id.")]
BaselineOpt = Annotated[str | None, typer.Option(help="Incumbent model the distilled one is compared with.")]
JudgeOpt = Annotated[
    bool | None, typer.Option("--judge/--no-judge", help="Run the LLM judge (default: config).")
]


# --------------------------------------------------------------------------- cost


def show_cost(config: AppConfig, assumptions: costing.CostAssumptions, queries: int) -> None:
    """The estimate, readable at 80 columns: long prose and model ids wrap, no value is cut off."""
    estimate = costing.estimate_run(config, assumptions)

    def say(renderable: Any) -> None:
        out.print(renderable, soft_wrap=False)  # wrap to the terminal, unlike the console's copyable lines

    say(
        Text(
            f"Estimated cost of one run ({config.examples:,} examples, {config.holdout} held out)",
            style="bold",
        )
    )
    models = Table.grid(padding=(0, 2))
    models.add_column(no_wrap=True)
    models.add_column(overflow="fold")
    for role, model_id in (
        ("teacher", config.teacher_model_id),
        ("student", config.student_model_id),
        ("baseline", config.baseline_model_id),
        *((("judge", config.judge_model_id),) if config.judge else ()),
    ):
        models.add_row(role, model_id)
    say(models)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Stage", justify="left", overflow="fold", ratio=1)
    for name in ("Calls", "Input tokens", "Output tokens", "USD"):
        table.add_column(name, justify="right", no_wrap=True)
    for line in estimate.lines:
        calls = f"{line.calls:,}" if line.calls else "-"
        output_tokens = f"{line.output_tokens:,}" if line.output_tokens else "-"
        table.add_row(line.stage, calls, f"{line.input_tokens:,}", output_tokens, usd(line.usd))
    table.add_row("custom model storage, per month", "", "", "", usd(estimate.storage_per_month_usd))
    total = usd(estimate.run_usd) + ("" if estimate.complete else " + unknown")
    label = f"Total (run + {estimate.storage_months:g} month of storage)"
    table.add_row(Text(label, style="bold"), "", "", "", Text(total, style="bold"))
    say(table)

    say(Text(f"Serving cost per {queries:,} routed queries", style="bold"))
    serving = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    # The model id last and folding: a long ARN wraps at the end of its row instead of being cut.
    serving.add_column("Candidate", no_wrap=True)
    serving.add_column("Tokens in/out", justify="right", no_wrap=True)
    serving.add_column("USD", justify="right", no_wrap=True)
    serving.add_column("Model", overflow="fold", ratio=1)
    estimates = costing.estimate_serving(config, assumptions, queries)
    for item in estimates:
        serving.add_row(
            item.candidate,
            f"{item.input_tokens_per_query} / {item.output_tokens_per_query}",
            usd(item.usd),
            item.model_id,
        )
    say(serving)
    distilled, baseline = estimates[0].usd, estimates[1].usd
    if distilled is not None and baseline:
        say(f"The distilled model costs {distilled / baseline:.1%} of the baseline per query.")
    say("Assumptions:")
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True)
    notes.add_column(overflow="fold")
    for line in costing.assumption_lines(config, assumptions):
        notes.add_row("  -", Text(line))
    say(notes)


@app.command()
def cost(
    ctx: typer.Context,
    examples: ExamplesOpt = None,
    holdout: HoldoutOpt = None,
    teacher: TeacherOpt = None,
    student: StudentOpt = None,
    baseline: BaselineOpt = None,
    judge: JudgeOpt = None,
    assume: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE", help="Change an assumption (e.g. --assume distillation_epochs=3)."
        ),
    ] = None,
    queries: Annotated[int, typer.Option(min=1, help="Queries for the serving estimate.")] = 1_000_000,
) -> None:
    """Estimate what a run costs before starting it, and the serving cost per 1M queries (no AWS calls)."""
    state = _state(ctx)
    _, config = run_overrides(
        state.config,
        examples=examples,
        holdout=holdout,
        teacher=teacher,
        student=student,
        baseline=baseline,
        judge=judge,
    )
    try:
        assumptions = costing.DEFAULT_ASSUMPTIONS.with_overrides(parse_pairs(assume or [], "--assume"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--assume") from None
    show_cost(config, assumptions, queries)


# --------------------------------------------------------------------------- start / watch


@app.command()
def start(
    ctx: typer.Context,
    examples: ExamplesOpt = None,
    holdout: HoldoutOpt = None,
    teacher: TeacherOpt = None,
    student: StudentOpt = None,
    baseline: BaselineOpt = None,
    judge: JudgeOpt = None,
    gate: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE",
            help="Gate threshold override: min_mean_score, max_score_drop, min_json_validity, "
            "max_p95_latency_ratio.",
        ),
    ] = None,
    wait_seconds: Annotated[
        list[str] | None,
        typer.Option(
            metavar="job|deployment|evaluation=SECONDS", help="Poll interval override of a Wait loop."
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="s3:// URI of your own labelled JSONL (skips generation).")
    ] = None,
    invocation_logs: Annotated[
        str | None, typer.Option(help="s3:// URI of Bedrock invocation logs to distil from.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default: UTC timestamp + random suffix).")
    ] = None,
    watch_run: Annotated[bool, typer.Option("--watch", help="Follow the run until it ends.")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between polls with --watch.")] = 15.0,
) -> None:
    """Start a distillation run; prints its id and console link."""
    state = _state(ctx)
    if run_id is not None:
        try:
            validate_run_id(run_id)
        except OperatorError as exc:
            raise typer.BadParameter(str(exc), param_hint="--run-id") from None
    payload, config = run_overrides(
        state.config,
        examples=examples,
        holdout=holdout,
        teacher=teacher,
        student=student,
        baseline=baseline,
        judge=judge,
        gate=gate or [],
        wait_seconds=wait_seconds or [],
    )
    if _s3_uri(dataset, "--dataset"):
        payload["dataset_s3_uri"] = dataset
    if _s3_uri(invocation_logs, "--invocation-logs"):
        payload["invocation_logs_s3_uri"] = invocation_logs
    operator = state.operator()
    started = operator.start(run_id or new_run_id(), payload)
    estimate = costing.estimate_run(config)
    out.print(Text.assemble("Started run ", (started.run_id, "bold"), f" in {operator.region}"))
    out.print(Text(f"  input:   {json.dumps(payload, sort_keys=True)}"))
    out.print(Text(f"  console: {started.console_url}"))
    out.print(Text(f"  estimated cost: {usd(estimate.run_usd)} (details: vsr cost)"))
    if watch_run:
        follow(operator, started.run_id, interval)
    else:
        out.print(Text(f"  follow it: vsr watch {started.run_id}"))


def _progress_lines(progress: Progress, now: datetime) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row(
        "Run",
        Text.assemble(
            progress.run_id,
            "  ",
            status_text(progress.status),
            f"  elapsed {format_duration(progress.elapsed(now))}",
        ),
    )
    if not progress.finished:
        grid.add_row("Step", progress.current_step or "starting")
    for item in progress.maps:
        label = "batches" if "generat" in item.name.lower() else "items"
        done = f"{item.done}/{item.total if item.total is not None else '?'} {label}"
        if item.failed:
            done += f" ({item.failed} failed)"
        grid.add_row(item.name, bar(item.done, item.total) + Text("  " + done) if item.total else Text(done))
    dataset = progress.section("dataset")
    if dataset:
        grid.add_row(
            "Dataset",
            f"{_count(dataset.get('train_count'))} train / {_count(dataset.get('holdout_count'))} held out",
        )
    distillation = progress.section("distillation")
    if distillation:
        grid.add_row(
            "Distillation",
            f"{distillation.get('status', '-')}  {distillation.get('job_name') or ''}".rstrip(),
        )
    deployment = progress.section("deployment")
    if deployment:
        grid.add_row(
            "Deployment",
            f"{deployment.get('status', '-')}  {deployment.get('deployment_name') or ''}".rstrip(),
        )
    judge = progress.section("judge")
    if judge:
        grid.add_row("Judge", str(judge.get("status", "-")))
    gate = progress.section("report").get("gate")
    if isinstance(gate, dict):
        grid.add_row("Gate", _gate_text(gate))
    for warning in progress.section("run").get("warnings", []) or []:
        grid.add_row("Warning", Text(str(warning), style="yellow"))
    return grid


def bar(done: float, total: float, width: int = 30) -> Text:
    """A progress bar as text (stays on the line it is printed on, in tables and plain output)."""
    filled = round(width * min(max(done / total, 0.0), 1.0)) if total else 0
    return Text("█" * filled, style="green") + Text("░" * (width - filled), style="grey37")


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _gate_text(gate: Mapping[str, Any]) -> Text:
    if gate.get("passed"):
        return Text("passed", style="green")
    reasons = "; ".join(str(reason) for reason in gate.get("reasons", []))
    return Text("not passed" + (f": {reasons}" if reasons else ""), style="yellow")


def progress_line(progress: Progress) -> str:
    """The progress on one line, without the elapsed time (printed when it changes)."""
    parts = [progress.status, progress.current_step or "starting"]
    for item in progress.maps:
        parts.append(f"{item.name} {item.done}/{item.total if item.total is not None else '?'}")
    for key in ("distillation", "deployment", "judge"):
        status = progress.section(key).get("status")
        if status:
            parts.append(f"{key} {status}")
    return " | ".join(parts)


def render_progress(progress: Progress, now: datetime | None = None) -> Panel:
    return Panel(_progress_lines(progress, now or datetime.now(UTC)), title="vsr watch", title_align="left")


def show_outcome(
    progress: Progress, *, report_location: str | None = None, console_url: str | None = None
) -> int:
    """Print how a finished run ended; returns the exit code (0 when it succeeded).

    Takes plain values, so a run driven elsewhere (a local dry run) ends the same way.
    """
    elapsed = format_duration(progress.elapsed())
    if progress.status == "SUCCEEDED":
        out.print(
            Text.assemble(
                ("Run ", "green"), (progress.run_id, "bold green"), (f" succeeded in {elapsed}.", "green")
            )
        )
        promotion = progress.section("promotion")
        if promotion:
            out.print(
                "  promoted: the router now serves this run's model"
                if promotion.get("promoted")
                else "  not promoted (the gate did not pass): see the report"
            )
        if report_location:
            out.print(Text(f"  report: {report_location}"))
            out.print(Text(f"  read it: vsr report {progress.run_id}"))
        return 0
    where = f" at step {progress.failed_step}" if progress.failed_step else ""
    detail = ": ".join(part for part in (progress.error, progress.cause) if part)
    err.print(
        Text(
            f"Run {progress.run_id} {progress.status.lower().replace('_', ' ')}{where} after {elapsed}"
            + (f": {detail}" if detail else ""),
            style="red",
        )
    )
    if console_url:
        err.print(Text(f"  console: {console_url}"))
    return 1


def report_location(operator: Operator, progress: Progress) -> str | None:
    """Where the run's report is: `$.report.report_key` in the run's bucket; None before the Report step."""
    key = progress.section("report").get("report_key")
    if not key:
        return None
    return f"s3://{progress.section('run').get('bucket') or operator.bucket}/{key}"


def follow(
    operator: Operator,
    run_id: str,
    interval: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    console: Console | None = None,
) -> Progress:
    """Poll a run and render its progress until it ends; Ctrl-C stops watching, not the run.

    On a terminal the panel updates in place; otherwise (CI logs, pipes) one line is printed
    whenever the step or a status changes, then the final panel.
    """
    console = console or out
    progress = operator.progress(run_id)
    try:
        if console.is_terminal:
            with Live(
                render_progress(progress), console=console, refresh_per_second=2, transient=False
            ) as live:
                while not progress.finished:
                    sleep(interval)
                    progress = operator.progress(run_id)
                    live.update(render_progress(progress))
        else:
            last = ""
            while True:
                line = progress_line(progress)
                if line != last:
                    console.print(Text(f"{datetime.now(UTC):%H:%M:%S} {line}"))
                    last = line
                if progress.finished:
                    break
                sleep(interval)
                progress = operator.progress(run_id)
            console.print(render_progress(progress))
    except KeyboardInterrupt:
        console.print(Text(f"Stopped watching. Run {run_id} goes on: `vsr watch {run_id}` to resume."))
        raise typer.Exit(130) from None
    code = show_outcome(
        progress,
        report_location=report_location(operator, progress),
        console_url=operator.console_url(run_id),
    )
    if code:
        raise typer.Exit(code)
    return progress


@app.command()
def watch(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between polls.")] = 15.0,
) -> None:
    """Follow a run live: step, generation batches, job and deployment status, elapsed time."""
    operator = _state(ctx).operator()
    follow(operator, operator.resolve_run(run), interval)


# --------------------------------------------------------------------------- runs / report


@app.command()
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many runs to list.")] = 10,
    status: Annotated[
        str | None, typer.Option(help="Only runs with this status (RUNNING, SUCCEEDED, FAILED...).")
    ] = None,
) -> None:
    """Recent runs with their status and duration, newest first."""
    if status is not None:
        status = status.upper()
        if status not in {"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"}:
            raise typer.BadParameter(f"unknown status {status!r}", param_hint="--status")
    items = _state(ctx).operator().runs(limit=limit, status=status)
    if not items:
        out.print("No runs yet: start one with `vsr start`.")
        return
    table = Table(title="Runs", title_justify="left")
    for name in ("Run", "Status", "Started", "Duration"):
        table.add_column(name, justify="right" if name == "Duration" else "left")
    now = datetime.now(UTC)
    for item in items:
        table.add_row(
            item.run_id,
            status_text(item.status),
            format_time(item.started),
            format_duration(item.duration(now)),
        )
    out.print(table)


def show_report(report: Mapping[str, Any], location: str | None = None) -> None:
    """The report's summary in the terminal (schema_version 1, see the pipeline contract)."""
    if report.get("offline_stand_in"):
        out.print(
            Panel(
                Text(
                    "OFFLINE STAND-IN: these answers come from the local dry run's stand-in for Bedrock. "
                    "They are not model results.",
                    style="bold",
                ),
                style="bold yellow",
            )
        )
    if report.get("schema_version") != 1:
        err.print(
            Text(
                f"warning: report schema_version {report.get('schema_version')!r}; this CLI reads version 1",
                style="yellow",
            )
        )
    dataset = report.get("dataset", {}) or {}
    out.print(
        Text.assemble(
            ("Run ", "bold"),
            (str(report.get("run_id", "?")), "bold"),
            f"  generated {report.get('generated_at', '-')}  dataset "
            f"{_count(dataset.get('train_count'))} train / {_count(dataset.get('holdout_count'))} held out",
        )
    )
    # Fits 80 columns: the model ids go below the table, the column meanings in the README.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("Candidate", "Score", "Judge", "JSON", "Dom.", "MAE", "p50", "p95", "Errors", "$/1M"):
        table.add_column(name, justify="left" if name == "Candidate" else "right", no_wrap=True)
    models = [model for model in report.get("models", []) or [] if isinstance(model, dict)]
    for model in models:
        latency = model.get("latency_ms", {}) or {}
        errors = model.get("errors")
        answers = model.get("answers")
        table.add_row(
            str(model.get("candidate", "?")),
            _number(model.get("mean_score")),
            _number(model.get("judge_mean_score")),
            _number(_pct(model.get("json_validity")), 1, "%"),
            _number(_pct(model.get("dominant_accuracy")), 1, "%"),
            _number(model.get("mae"), 3),
            _number(latency.get("p50"), 0),
            _number(latency.get("p95"), 0),
            f"{_count(errors)}/{_count(answers)}",
            usd(model.get("cost_per_1m_queries_usd")),
        )
    out.print(table)
    out.print(
        Text(
            "Score: rubric mean (1-5); Judge: LLM-judge mean; JSON: valid answers; Dom.: dominant modality "
            "right; MAE: mean weight error; p50/p95: latency in ms; Errors: failed calls/answers; "
            "$/1M: USD per 1M queries",
            style="dim",
        )
    )
    for model in models:
        out.print(Text(f"  {model.get('candidate', '?')}: {model.get('model_id', '-')}"))
    headline = report.get("headline") or {}
    if headline.get("compared_with"):
        parts = [f"score {_signed(headline.get('score_delta'))}"]
        if isinstance(headline.get("judge_score_delta"), int | float):
            parts.append(f"judge {_signed(headline['judge_score_delta'])}")
        for key, label in (("latency_p50_speedup", "p50"), ("latency_p95_speedup", "p95")):
            if isinstance(headline.get(key), int | float):
                parts.append(f"{label} {headline[key]:.2f}x faster")
        if isinstance(headline.get("cost_ratio"), int | float):
            parts.append(f"{headline['cost_ratio']:.1%} of the cost")
        out.print(Text(f"Distilled vs {headline['compared_with']}: " + ", ".join(parts)))
    gate = report.get("gate", {}) or {}
    out.print(Text.assemble(("Gate: ", "bold"), _gate_text(gate)))
    for check in gate.get("checks", []) or []:
        mark = {True: ("pass", "green"), False: ("FAIL", "red")}.get(check.get("passed"), ("n/a", "dim"))
        out.print(
            Text.assemble("  ", (f"{mark[0]:4}", mark[1]), f" {check.get('message', check.get('name', ''))}")
        )
    judge = report.get("judge", {}) or {}
    if judge:
        out.print(
            Text(
                f"Judge: {judge.get('status', '-')}"
                + (f" ({judge['job_arn']})" if judge.get("job_arn") else "")
            )
        )
    for warning in report.get("warnings", []) or []:
        out.print(Text(f"Warning: {warning}", style="yellow"))
    if location:
        out.print(Text(f"Full report: {location}"))


def _signed(value: Any) -> str:
    return f"{value:+.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _pct(value: Any) -> float | None:
    return value * 100 if isinstance(value, int | float) and not isinstance(value, bool) else None


@app.command()
def report(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    html: Annotated[
        Path | None, typer.Option(help="Also save the HTML report (with charts) to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print report.json as is.")] = False,
) -> None:
    """A run's evaluation summary: quality, latency and cost of each candidate, and the gate."""
    operator = _state(ctx).operator()
    run_id = operator.resolve_run(run)
    data = operator.report(run_id)
    if as_json:
        out.print_json(data=data)
    else:
        show_report(data, operator.report_uri(run_id, "html"))
    if html is not None:
        operator.save_report(run_id, "html", html)
        out.print(Text(f"Saved the HTML report to {html}"))


# --------------------------------------------------------------------------- router


@app.command()
def route(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="A video search query.")],
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="VSR_API_KEY", help="API key when api_auth=api_key (default: read from API Gateway)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as is.")] = False,
) -> None:
    """Ask the deployed router API (SigV4-signed) how to weigh the modalities for a query."""
    state = _state(ctx)
    if not query.strip():
        raise typer.BadParameter("the query is empty", param_hint="QUERY")
    answer = state.operator().route(query, api_key=api_key)
    if as_json:
        out.print_json(data=answer)
        return
    table = Table(title=f"Routing decision for {query!r}", title_justify="left")
    table.add_column("Modality")
    table.add_column("Weight", justify="right")
    table.add_column("")
    for modality in state.config.modalities:
        weight = answer.get(modality)
        if isinstance(weight, int | float):
            table.add_row(modality, f"{weight:.3f}", bar(float(weight), 1.0, width=20))
    out.print(table)
    if answer.get("reasoning"):
        out.print(Text(f"reasoning: {answer['reasoning']}"))
    degraded = " (degraded: fallback)" if answer.get("degraded") else ""
    out.print(
        Text(
            f"model: {answer.get('model', '-')}  source: {answer.get('source', '-')}{degraded}  "
            f"latency: {_number(answer.get('latency_ms'), 0)} ms"
        )
    )


# --------------------------------------------------------------------------- promote / rollback / status


def _describe_active(value: ActiveModel) -> str:
    if not value.model_id:
        return "the configured default (nothing promoted)"
    return f"{value.model_id} (run {value.run_id or '-'}, promoted {value.promoted_at or '-'})"


def _confirm(question: str, yes: bool) -> None:
    if not yes and not typer.confirm(question, default=False):
        raise fail("cancelled: nothing changed")


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.command()
def promote(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even though the run did not pass the quality gate.")
    ] = False,
    yes: YesOpt = False,
) -> None:
    """Make a run's distilled model the one the router serves (keeps the previous one for rollback)."""
    state = _state(ctx)
    operator = state.operator()
    run_id = operator.resolve_run(run)
    model_id, _ = operator.promotion_candidate(run_id, force=force)
    current = operator.active_model()
    out.print(Text(f"now:   {_describe_active(current)}"))
    out.print(Text(f"after: {model_id} (run {run_id})"))
    _confirm("Promote?", yes)
    promotion = operator.promote(run_id, model_id)
    if not promotion.changed:
        out.print(Text(f"Run {run_id} is already the active model: nothing changed."))
        return
    out.print(
        Text(
            f"Promoted run {run_id}. The router picks it up within "
            f"{state.config.active_model_max_age_seconds} s; undo with `vsr rollback`."
        )
    )
    out.print(Text(f"  parameter: {promotion.parameter}"))


@app.command()
def rollback(ctx: typer.Context, yes: YesOpt = False) -> None:
    """Serve the model that was active before the last promotion again."""
    state = _state(ctx)
    operator = state.operator()
    current = operator.active_model()
    previous = current.previous or {}
    if previous.get("model_id"):
        out.print(Text(f"now:   {_describe_active(current)}"))
        out.print(Text(f"after: {previous.get('model_id')} (run {previous.get('run_id') or '-'})"))
        _confirm("Roll back?", yes)
    promotion = operator.rollback()  # NothingToRollBack explains itself
    out.print(
        Text(
            f"Rolled back to {_describe_active(promotion.after)}. The router picks it up within "
            f"{state.config.active_model_max_age_seconds} s."
        )
    )


@app.command()
def status(ctx: typer.Context) -> None:
    """What is deployed (stacks and their outputs), the active model and the latest run."""
    state = _state(ctx)
    operator = state.operator()
    out.print(Text(f"Project {state.config.prefix} in {operator.region}"))
    wanted = {
        STORAGE: (OUTPUT_BUCKET, OUTPUT_ACTIVE_MODEL_PARAMETER),
        PIPELINE: (OUTPUT_STATE_MACHINE,),
        ROUTER_API: (OUTPUT_ROUTE_URL,),
    }
    deployed: set[str] = set()
    for role, keys in wanted.items():
        name = state.config.stack_name(role)
        try:
            outputs = operator.outputs(role)
        except StackNotDeployed:
            out.print(Text.assemble(f"  {name}: ", ("not deployed", "yellow")))
            continue
        deployed.add(role)
        out.print(Text(f"  {name}: " + ", ".join(f"{key}={outputs.get(key, '-')}" for key in keys)))
    if STORAGE in deployed:
        out.print(Text(f"Active model: {_describe_active(operator.active_model())}"))
    if PIPELINE in deployed:
        latest = operator.runs(limit=1)
        if latest:
            item = latest[0]
            out.print(
                Text.assemble(
                    "Latest run: ",
                    item.run_id,
                    " ",
                    status_text(item.status),
                    f" ({format_duration(item.duration())})",
                )
            )
        else:
            out.print("Latest run: none yet")


# --------------------------------------------------------------------------- cleanup


def show_cleanup_plan(plan: CleanupPlan) -> None:
    table = Table(title="To stop or delete", title_justify="left")
    for name in ("What", "Name", "Status / detail"):
        table.add_column(name)
    for item in plan.resources:
        table.add_row(item.kind, item.name, item.detail)
    out.print(table)


def _cleanup_line(result: CleanupResult) -> None:
    verb = {
        "run": "stopped",
        "customization job": "stopped",
        "evaluation job": "stopped",
        "active model": "reset",
    }
    done = verb.get(result.resource.kind, "deleted")
    if result.error:
        err.print(
            Text(f"  failed  {result.resource.kind} {result.resource.name}: {result.error}", style="red")
        )
    else:
        out.print(Text(f"  {done:7} {result.resource.kind} {result.resource.name}"))


@app.command()
def cleanup(
    ctx: typer.Context,
    yes: YesOpt = False,
    include_data: Annotated[
        bool,
        typer.Option(
            "--include-data", help="Also delete every object version under runs/ in the data bucket."
        ),
    ] = False,
) -> None:
    """Stop running runs and jobs, delete this project's custom model deployments and custom models."""
    state = _state(ctx)
    operator = state.operator()
    plan = operator.plan_cleanup(include_data=include_data)
    for note in plan.skipped:
        out.print(Text(f"note: {note}", style="yellow"))
    if not plan.resources:
        out.print(
            f"Nothing of {state.config.prefix} bills in {operator.region}: no running runs or jobs, "
            "no deployments, no custom models."
        )
    else:
        show_cleanup_plan(plan)
        _confirm(f"Stop and delete these {len(plan.resources)} resources?", yes)
        results = operator.apply_cleanup(plan, on_done=_cleanup_line)
        failed = [result for result in results if result.error]
        if failed:
            raise fail(
                f"{len(failed)} of {len(results)} could not be removed: run `vsr cleanup` again in a few minutes "
                "(a model cannot be deleted while its deployment is being deleted)"
            )
        out.print(Text(f"Removed {len(results)} resources.", style="green"))
    if not include_data:
        out.print(
            "The data bucket keeps the runs' data (add --include-data to delete runs/); "
            "`make destroy` removes the stacks."
        )


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check credentials, region, model access, Anthropic first use, API Gateway logging role, CDK bootstrap
    and quotas before the first deploy; exit 1 if any check fails."""
    from cdk_app.doctor import DEFAULT_BOOTSTRAP_QUALIFIER, failed, render_checks, run_checks

    state = _state(ctx)
    context = read_context(state.cdk_json, state.context_args)
    qualifier = str(context.get("@aws-cdk/core:bootstrapQualifier") or DEFAULT_BOOTSTRAP_QUALIFIER)
    operator = state.operator()
    checks = run_checks(state.config, operator.region, operator.client, bootstrap_qualifier=qualifier)
    out.print(render_checks(checks, title=f"vsr doctor: {state.config.prefix} in {operator.region}"))
    if failed(checks):
        raise fail("some checks failed: apply the fixes above and run `vsr doctor` again")


# --help goes to the dry run's own parser, which lists its flags.
@app.command(
    "dry-run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def dry_run(ctx: typer.Context) -> None:
    """Run the whole pipeline locally with an OFFLINE STAND-IN for Bedrock (no AWS; not model results).

    Options are the dry run's own: --examples, --holdout, --modalities, --out, --judge/--no-judge,
    --seed, --run-id, -c, --cdk-json (`vsr dry-run --help`). vsr's own -c and --cdk-json apply too.
    """
    from cdk_app.local.dry_run import main as dry_run_main  # imports moto: only for this command

    state = _state(ctx)
    given = ["--cdk-json", str(state.cdk_json)] if state.cdk_json is not None else []
    given += [arg for pair in state.context_args for arg in ("-c", pair)]
    raise typer.Exit(dry_run_main([*given, *ctx.args]))


def main() -> None:
    """Console script entry point (`vsr`)."""
    app(prog_name="vsr")


if __name__ == "__main__":
    main()
