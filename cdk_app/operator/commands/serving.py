"""What the router serves: `vsr route` (ask it), `vsr promote`, `vsr rollback`, `vsr rollout`, `vsr status`.

`promote` and `rollback` show the active model before and after and ask first (`--yes` skips
it); `promote --shadow/--canary` starts a rollout instead, and `rollout` shows it with its live
figures and alarms, changes its share, finishes or aborts it, or prints the parameter's history
(docs/rollout.md); `status` lists the deployed stacks with their outputs, the active model and the
latest run.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from routing.active_model import ActiveModel
from routing.evaluation.rollout import HistoryEntry

from cdk_app.operator.commands.options import YesOpt
from cdk_app.operator.console import bar, confirm, format_duration, format_time, number, out, status_text
from cdk_app.operator.errors import StackNotDeployed
from cdk_app.operator.rollout import NoRollout, RolloutStatus
from cdk_app.operator.session import cli_state
from cdk_app.stack_outputs import (
    OUTPUT_ACTIVE_MODEL_PARAMETER,
    OUTPUT_BUCKET,
    OUTPUT_ROUTE_URL,
    OUTPUT_STATE_MACHINE,
    PIPELINE,
    ROUTER_API,
    STORAGE,
)


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
    state = cli_state(ctx)
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
            f"latency: {number(answer.get('latency_ms'), 0)} ms"
        )
    )


def _describe_active(value: ActiveModel) -> str:
    if not value.model_id:
        return "the configured default (nothing promoted)"
    return f"{value.model_id} (run {value.run_id or '-'}, promoted {value.promoted_at or '-'})"


def promote(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even though the run did not pass the quality gate.")
    ] = False,
    shadow: Annotated[
        float | None,
        typer.Option(
            "--shadow",
            min=0,
            max=100,
            metavar="PERCENT",
            help="Start a shadow rollout instead: the router also asks the run's model for PERCENT % "
            "of queries and serves the active model's answer.",
        ),
    ] = None,
    canary: Annotated[
        float | None,
        typer.Option(
            "--canary",
            min=0,
            max=100,
            metavar="PERCENT",
            help="Start a canary rollout instead: the run's model serves PERCENT % of queries.",
        ),
    ] = None,
    finish_after_queries: Annotated[
        int | None,
        typer.Option(
            min=1, help="With --shadow/--canary: finish by itself after this many candidate queries."
        ),
    ] = None,
    finish_after_hours: Annotated[
        float | None,
        typer.Option(min=0.01, help="With --shadow/--canary: finish by itself after this many hours."),
    ] = None,
    yes: YesOpt = False,
) -> None:
    """Make a run's distilled model the one the router serves (keeps the previous one for rollback), or
    start a shadow or canary rollout of it (docs/rollout.md)."""
    if shadow is not None and canary is not None:
        raise typer.BadParameter("give --shadow or --canary, not both", param_hint="--shadow/--canary")
    mode = "shadow" if shadow is not None else "canary" if canary is not None else None
    if mode is None and (finish_after_queries or finish_after_hours):
        raise typer.BadParameter(
            "needs --shadow or --canary", param_hint="--finish-after-queries/--finish-after-hours"
        )
    state = cli_state(ctx)
    operator = state.operator()
    run_id = operator.resolve_run(run)
    model_id, _ = operator.promotion_candidate(run_id, force=force)
    current = operator.active_model()
    out.print(Text(f"now:   {_describe_active(current)}"))
    if mode is not None:
        percent = float(shadow if shadow is not None else canary)  # type: ignore[arg-type]
        _start_rollout(
            state, operator, run_id, model_id, mode, percent, finish_after_queries, finish_after_hours, yes
        )
        return
    out.print(Text(f"after: {model_id} (run {run_id})"))
    confirm("Promote?", yes)
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


def _start_rollout(
    state, operator, run_id: str, model_id: str, mode: str, percent: float,
    queries: int | None, hours: float | None, yes: bool,
) -> None:  # fmt: skip
    serves = "serves" if mode == "canary" else "is also asked (the active model's answer is served) for"
    finish = " or ".join(
        [*([f"{queries:,} candidate queries"] if queries else []), *([f"{hours:g} h"] if hours else [])]
    )
    out.print(Text(f"after: {model_id} (run {run_id}) {serves} {percent:g} % of queries ({mode})"))
    out.print(Text(f"       finishes by itself after {finish} with no rollout alarm" if finish
                   else "       finish it with `vsr rollout --finish`"))  # fmt: skip
    confirm(f"Start the {mode} rollout?", yes)
    change = operator.start_rollout(
        run_id, model_id, mode=mode, percent=percent, queries=queries, hours=hours
    )
    if not change.changed:
        out.print(
            Text(f"The {mode} rollout of run {run_id} at {percent:g} % is already running: nothing changed.")
        )
        return
    out.print(Text(
        f"Started the {mode} rollout of run {run_id}. The router picks it up within "
        f"{state.config.active_model_max_age_seconds} s; watch it with `vsr rollout`, stop it with "
        "`vsr rollout --abort`. Any rollout alarm aborts it."
    ))  # fmt: skip


def rollback(ctx: typer.Context, yes: YesOpt = False) -> None:
    """Serve the model that was active before the last promotion again."""
    state = cli_state(ctx)
    operator = state.operator()
    current = operator.active_model()
    previous = current.previous or {}
    if previous.get("model_id"):
        out.print(Text(f"now:   {_describe_active(current)}"))
        out.print(Text(f"after: {previous.get('model_id')} (run {previous.get('run_id') or '-'})"))
        confirm("Roll back?", yes)
    promotion = operator.rollback()  # NothingToRollBack explains itself
    out.print(
        Text(
            f"Rolled back to {_describe_active(promotion.after)}. The router picks it up within "
            f"{state.config.active_model_max_age_seconds} s."
        )
    )


def status(ctx: typer.Context) -> None:
    """What is deployed (stacks and their outputs), the active model and the latest run."""
    state = cli_state(ctx)
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


def rollout(
    ctx: typer.Context,
    percent: Annotated[
        float | None,
        typer.Option("--percent", min=0, max=100, help="Move the rollout to this share of queries."),
    ] = None,
    finish: Annotated[
        bool, typer.Option("--finish", help="Promote the candidate (the active model kept for rollback).")
    ] = False,
    abort: Annotated[
        bool, typer.Option("--abort", help="End the rollout: the active model serves alone.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="With --abort: why (recorded in the parameter's history).")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Every change of the active model: who, what, when, why.")
    ] = False,
    yes: YesOpt = False,
) -> None:
    """The running rollout with its live figures and alarms; or change it (--percent, --finish, --abort), or
    show the parameter's history (--history)."""
    actions = [name for name, given in (("--percent", percent is not None), ("--finish", finish),
                                        ("--abort", abort), ("--history", history)) if given]  # fmt: skip
    if len(actions) > 1:
        raise typer.BadParameter(f"give one of {', '.join(actions)}", param_hint=actions[0])
    if reason is not None and not abort:
        raise typer.BadParameter("only with --abort", param_hint="--reason")
    state = cli_state(ctx)
    operator = state.operator()
    if history:
        _show_history(operator.rollout_history())
        return
    if not actions:
        _show_rollout(operator.rollout_status())
        return
    current = operator.active_model()
    running = current.rollout
    if running is None:
        raise NoRollout("no rollout: start one with `vsr promote RUN --shadow PERCENT` or `--canary PERCENT`")
    what = (
        f"{running.mode} rollout of {running.model_id} (run {running.run_id or '-'}, {running.percent:g} %)"
    )
    if percent is not None:
        confirm(f"Move the {what} to {percent:g} %?", yes)
        change = operator.set_rollout_percent(percent)
        done = f"The rollout now covers {percent:g} % of queries." if change.changed else "Nothing changed."
    elif finish:
        confirm(f"Finish the {what}: make it the active model?", yes)
        operator.finish_rollout()
        done = f"{running.model_id} is the active model; `vsr rollback` returns to the one before it."
    else:
        confirm(f"Abort the {what}?", yes)
        operator.abort_rollout(reason)
        done = f"Rollout aborted: {current.model_id or 'the configured default'} serves alone."
    out.print(Text(f"{done} The router picks it up within {state.config.active_model_max_age_seconds} s."))


def _show_rollout(status: RolloutStatus) -> None:
    value = status.value
    out.print(Text(f"Active model: {_describe_active(value)}"))
    rollout = value.rollout
    if rollout is None:
        out.print("No rollout is running.")
    else:
        out.print(Text(
            f"Rollout: {rollout.mode} of {rollout.model_id} (run {rollout.run_id or '-'}) for {rollout.percent:g} % "
            f"of queries since {rollout.started_at}"
        ))  # fmt: skip
        finish = rollout.auto_finish_after
        if finish is not None:
            parts = [*([f"{finish.queries:,} candidate queries"] if finish.queries else []),
                     *([f"{finish.hours:g} h"] if finish.hours else [])]  # fmt: skip
            out.print(Text(f"Finishes by itself after {' or '.join(parts)} with no rollout alarm in ALARM."))
        figures = status.figures
        table = Table(
            title=f"Since {format_time(status.start)} (to {format_time(status.end)})", title_justify="left"
        )
        for column in ("", "queries", "fallback rate", "parse failures", "p95 model latency"):
            table.add_column(column, justify="left" if not column else "right")
        table.add_row("active (all routed)", number(figures.get("routed"), 0),
                      number(status.rate("fallbacks", "routed"), 1, " %"),
                      number(figures.get("parse_failures"), 0), number(figures.get("active_p95_ms"), 0, " ms"))  # fmt: skip
        table.add_row("candidate", number(figures.get("candidate_requests"), 0),
                      number(status.rate("candidate_fallbacks", "candidate_requests"), 1, " %"),
                      number(figures.get("candidate_parse_failures"), 0),
                      number(figures.get("candidate_p95_ms"), 0, " ms"))  # fmt: skip
        out.print(table)
        if rollout.mode == "shadow":
            disagreement = status.rate("shadow_disagreements", "shadow_comparisons")
            agreement = None if disagreement is None else 100.0 - disagreement
            out.print(Text(
                f"Shadow: {number(figures.get('shadow_comparisons'), 0)} comparisons, "
                f"{number(agreement, 1, ' %')} same dominant modality, mean weight difference "
                f"{number(figures.get('shadow_weight_difference'), 3)}"
            ))  # fmt: skip
    if status.alarms:
        out.print(Text.assemble("Rollout alarms: ", *_alarm_texts(status.alarms)))


def _alarm_texts(alarms: dict[str, str]) -> list[Text]:
    texts: list[Text] = []
    for index, (name, state) in enumerate(alarms.items()):
        style = {"ALARM": "red", "OK": "green"}.get(state, "yellow")
        texts += [Text(", " if index else ""), Text(f"{name} "), Text(state, style=style)]
    return texts


def _show_history(entries: list[HistoryEntry]) -> None:
    """One block per value, oldest first: version, when, what, who; what served; why (lines stay copyable)."""
    if not entries:
        out.print("The active-model parameter has no history yet (nothing promoted).")
        return
    out.print("Active-model parameter history (oldest first):")
    for entry in entries:
        value, change = entry.value, entry.value.change
        when = change.at if change else format_time(entry.modified)
        what = f"{change.action} by {change.by}" if change else "written without a change record"
        out.print(Text(f"v{entry.version}  {when}  {what}"))
        rollout = value.rollout
        watched = f"; rollout: {rollout.mode} {rollout.percent:g} % {rollout.model_id}" if rollout else ""
        out.print(Text(f"    serving: {value.model_id or 'the configured default'}{watched}"))
        if change and change.reason:
            out.print(Text(f"    why: {change.reason}"))
