"""What the router serves: `vsr route` (ask it), `vsr promote`, `vsr rollback`, and `vsr status`.

`promote` and `rollback` show the active model before and after and ask first (`--yes` skips
it); `status` lists the deployed stacks with their outputs, the active model and the latest run.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from routing.active_model import ActiveModel
from routing.evaluation.promotion import local_model_of

from cdk_app.operator.commands.options import YesOpt
from cdk_app.operator.console import bar, confirm, format_duration, number, out, status_text
from cdk_app.operator.errors import StackNotDeployed
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
    yes: YesOpt = False,
) -> None:
    """Make a run's distilled model the one the router serves (keeps the previous one for rollback)."""
    state = cli_state(ctx)
    operator = state.operator()
    run_id = operator.resolve_run(run)
    model_id, report = operator.promotion_candidate(run_id, force=force)
    local_model = local_model_of(report)
    current = operator.active_model()
    out.print(Text(f"now:   {_describe_active(current)}"))
    out.print(Text(f"after: {model_id} (run {run_id})"))
    out.print(Text(f"tier-0: {local_model.s3_uri} (confidence >= {local_model.threshold:g})" if local_model
                   else "tier-0: none (the report calibrated no threshold)"))  # fmt: skip
    confirm("Promote?", yes)
    promotion = operator.promote(run_id, model_id, local_model)
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
