"""`vsr report`: a run's evaluation summary in the terminal, from its report.json (schema_version 1).

`show_report` takes the report as plain data, so a report read elsewhere (the local dry run's)
prints the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cdk_app.operator.console import count, err, gate_text, number, out, usd
from cdk_app.operator.session import cli_state


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
            f"{count(dataset.get('train_count'))} train / {count(dataset.get('holdout_count'))} held out",
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
            number(model.get("mean_score")),
            number(model.get("judge_mean_score")),
            number(_pct(model.get("json_validity")), 1, "%"),
            number(_pct(model.get("dominant_accuracy")), 1, "%"),
            number(model.get("mae"), 3),
            number(latency.get("p50"), 0),
            number(latency.get("p95"), 0),
            f"{count(errors)}/{count(answers)}",
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
    out.print(Text.assemble(("Gate: ", "bold"), gate_text(gate)))
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


def report(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    html: Annotated[
        Path | None, typer.Option(help="Also save the HTML report (with charts) to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print report.json as is.")] = False,
) -> None:
    """A run's evaluation summary: quality, latency and cost of each candidate, and the gate."""
    operator = cli_state(ctx).operator()
    run_id = operator.resolve_run(run)
    data = operator.report(run_id)
    if as_json:
        out.print_json(data=data)
    else:
        show_report(data, operator.report_uri(run_id, "html"))
    if html is not None:
        operator.save_report(run_id, "html", html)
        out.print(Text(f"Saved the HTML report to {html}"))
