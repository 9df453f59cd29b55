"""The account around a deployment: `vsr doctor` (ready for a first deploy?) and `vsr cleanup` (stop what bills).

The checks live in `cdk_app.operator.doctor`, the clean-up's plan and removal in
`cdk_app.operator.cleanup`; these commands render them and ask before removing anything.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from routing.layout import RUNS_PREFIX

from cdk_app.operator.cleanup import CleanupPlan, CleanupResult
from cdk_app.operator.commands.options import YesOpt
from cdk_app.operator.console import confirm, err, fail, out
from cdk_app.operator.session import cli_state, read_context


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


def cleanup(
    ctx: typer.Context,
    yes: YesOpt = False,
    include_data: Annotated[
        bool,
        typer.Option(
            "--include-data", help=f"Also delete every object version under {RUNS_PREFIX} in the data bucket."
        ),
    ] = False,
) -> None:
    """Stop running runs and jobs, delete this project's custom model deployments and custom models."""
    state = cli_state(ctx)
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
        confirm(f"Stop and delete these {len(plan.resources)} resources?", yes)
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
            f"The data bucket keeps the runs' data (add --include-data to delete {RUNS_PREFIX}); "
            "`make destroy` removes the stacks."
        )


def doctor(ctx: typer.Context) -> None:
    """Check credentials, region, model access, Anthropic first use, API Gateway logging role, CDK bootstrap
    and quotas before the first deploy; exit 1 if any check fails."""
    from cdk_app.operator.doctor import DEFAULT_BOOTSTRAP_QUALIFIER, failed, render_checks, run_checks

    state = cli_state(ctx)
    context = read_context(state.cdk_json, state.context_args)
    qualifier = str(context.get("@aws-cdk/core:bootstrapQualifier") or DEFAULT_BOOTSTRAP_QUALIFIER)
    operator = state.operator()
    checks = run_checks(state.config, operator.region, operator.client, bootstrap_qualifier=qualifier)
    out.print(render_checks(checks, title=f"vsr doctor: {state.config.prefix} in {operator.region}"))
    if failed(checks):
        raise fail("some checks failed: apply the fixes above and run `vsr doctor` again")
