"""Rendering of a run's `Progress` (`cdk_app.operator.progress`): the live panel, one line, the outcome.

They take plain data, so anything that has a `Progress` (`vsr watch` polling Step Functions, or
a run driven elsewhere such as the local dry run) renders and ends the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cdk_app.operator.console import bar, count, err, format_duration, gate_text, out, status_text
from cdk_app.operator.progress import Progress


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
            f"{count(dataset.get('train_count'))} train / {count(dataset.get('holdout_count'))} held out",
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
        grid.add_row("Gate", gate_text(gate))
    for warning in progress.section("run").get("warnings", []) or []:
        grid.add_row("Warning", Text(str(warning), style="yellow"))
    return grid


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
