"""`vsr cost`: what a run costs before starting it, the held-out size its gate needs, and the serving
cost per queries (no AWS calls).

The figures come from `cdk_app.operator.cost` (pure); this module lays them out, readable at
80 columns.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from cdk_app.config import AppConfig
from cdk_app.operator import cost as costing
from cdk_app.operator.commands.options import (
    BaselineOpt,
    ExamplesOpt,
    HoldoutOpt,
    JudgeOpt,
    StudentOpt,
    TeacherOpt,
    run_overrides,
)
from cdk_app.operator.console import out, usd
from cdk_app.operator.session import cli_state, parse_pairs


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
    for line in resolution_lines(costing.estimate_resolution(config, assumptions)):
        say(Text(line))

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
    say(Text(shared_cache_line(costing.estimate_shared_cache(config, assumptions, queries))))
    say("Assumptions:")
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True)
    notes.add_column(overflow="fold")
    for line in costing.assumption_lines(config, assumptions):
        notes.add_row("  -", Text(line))
    say(notes)


def shared_cache_line(found: costing.SharedCacheEstimate) -> str:
    """The shared decision cache's table cost per queries, and what its hits spare, as one sentence."""
    state = "on" if found.enabled else "off"
    spared = (
        f" ({usd(found.model_usd_spared)} of the distilled model)"
        if found.model_usd_spared is not None
        else ""
    )
    return (
        f"Shared decision cache (router_shared_cache: {state}): {found.lookups:,.0f} lookups + {found.writes:,.0f} writes per "
        f"{found.queries:,} queries cost {usd(found.usd)} in DynamoDB; its hits spare "
        f"{found.model_calls_spared:,.0f} model calls{spared}."
    )


def resolution_lines(found: costing.ResolutionEstimate) -> list[str]:
    """The held-out size the gate's tolerance needs, and its evaluation cost, as sentences."""
    detectable = found.detectable_at_configured
    lines = [
        f"Resolution: {found.configured_holdout:,} held-out queries detect a score difference of "
        f"{detectable:.2f} (80 % power at 5 %, paired score sd {found.sd:g})."
        if detectable is not None
        else "Resolution: no held-out queries configured."
    ]
    if found.holdout_needed is None:
        lines.append("A tolerance (gate.max_score_drop) of 0 is resolved by no held-out size.")
        return lines
    beyond = (
        f" (more than the {found.holdout_limit:,} a run can hold out)"
        if found.holdout_needed > found.holdout_limit
        else ""
    )
    lines.append(
        f"Held-out size needed for the tolerance {found.tolerance:g}: {found.holdout_needed:,} queries{beyond}; "
        f"evaluating them costs {usd(found.usd)}"
        + ("" if found.usd is not None else " (a price is missing)")
        + "."
    )
    return lines


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
    state = cli_state(ctx)
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
