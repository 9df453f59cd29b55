"""Run commands: `vsr start`, `vsr watch`, `vsr runs`, and `vsr dry-run` (the same pipeline, locally).

`start` turns its options into the execution input (`options.run_overrides`) and starts the
state machine; `follow` (behind `watch` and `start --watch`) polls the run's `Progress` and
renders it with `cdk_app.operator.progress_view` until the run ends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from routing.settings import S3_URI_PATTERN

from cdk_app.operator import cost as costing
from cdk_app.operator.api import Operator
from cdk_app.operator.commands.options import (
    BaselineOpt,
    ExamplesOpt,
    HoldoutOpt,
    JudgeOpt,
    StudentOpt,
    TeacherOpt,
    run_overrides,
)
from cdk_app.operator.console import format_duration, format_time, out, status_text, usd
from cdk_app.operator.errors import OperatorError
from cdk_app.operator.executions import new_run_id, validate_run_id
from cdk_app.operator.progress import Progress
from cdk_app.operator.progress_view import progress_line, render_progress, show_outcome
from cdk_app.operator.session import cli_state

_S3_URI = re.compile(S3_URI_PATTERN)  # the execution input's own rule


def _s3_uri(value: str | None, option: str) -> str | None:
    if value is not None and not _S3_URI.match(value):
        raise typer.BadParameter(f"{value!r} is not an s3://bucket/prefix URI", param_hint=option)
    return value


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
    gold: Annotated[
        str | None,
        typer.Option(help="s3:// URI of a gold set labelled by people (`vsr gold import --upload`)."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default: UTC timestamp + random suffix).")
    ] = None,
    watch_run: Annotated[bool, typer.Option("--watch", help="Follow the run until it ends.")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between polls with --watch.")] = 15.0,
) -> None:
    """Start a distillation run; prints its id and console link."""
    state = cli_state(ctx)
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
    if _s3_uri(gold, "--gold"):
        payload["gold_s3_uri"] = gold
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


def watch(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between polls.")] = 15.0,
) -> None:
    """Follow a run live: step, generation batches, job and deployment status, elapsed time."""
    operator = cli_state(ctx).operator()
    follow(operator, operator.resolve_run(run), interval)


# --------------------------------------------------------------------------- runs / report


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
    items = cli_state(ctx).operator().runs(limit=limit, status=status)
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


def dry_run(ctx: typer.Context) -> None:
    """Run the whole pipeline locally with an OFFLINE STAND-IN for Bedrock (no AWS; not model results).

    Options are the dry run's own: --examples, --holdout, --modalities, --out, --judge/--no-judge,
    --seed, --run-id, --rollout, --rollout-percent, -c, --cdk-json (`vsr dry-run --help`). vsr's own -c and --cdk-json apply too.
    """
    from cdk_app.local.dry_run import main as dry_run_main  # imports moto: only for this command

    state = cli_state(ctx)
    given = ["--cdk-json", str(state.cdk_json)] if state.cdk_json is not None else []
    given += [arg for pair in state.context_args for arg in ("-c", pair)]
    raise typer.Exit(dry_run_main([*given, *ctx.args]))
