"""`vsr`: the operator CLI of the video search router distillation pipeline (console script `vsr`).

Preview what a run costs, start it, watch it, read its report, try the router, promote or
roll back, and clean up what bills. The configuration is read like the CDK app reads it
(cdk.json's context plus `-c key=value`), stack outputs are discovered from CloudFormation,
and every user error is one red line on stderr with exit code 1 (2 for usage and
configuration errors), never a traceback (VSR_DEBUG=1 shows one for unexpected errors).

This module is the typer app: the global options, the error handling every command shares,
and the list of commands. The commands live in `cdk_app.operator.commands` by group; they
parse options, call `cdk_app.operator.api.Operator` (AWS access) or `cdk_app.operator.cost`
(pure), and render with `cdk_app.operator.console`, `progress_view` and the commands' own
`show_*` functions, which take plain data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cdk_app.config import ConfigError
from cdk_app.operator.commands import account, capacity, cost, gold, reports, runs, serving
from cdk_app.operator.console import fail
from cdk_app.operator.errors import OperatorError, explain_error
from cdk_app.operator.session import CliState, Overrides

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")


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
    "promote, rollback, capacity, cleanup, gold.",
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


# The commands, in the order `vsr --help` lists them.
for command in (
    cost.cost,
    runs.start,
    runs.watch,
    runs.runs,
    reports.report,
    serving.route,
    serving.promote,
    serving.rollback,
    serving.rollout,
    serving.status,
    capacity.capacity,
    account.cleanup,
    account.doctor,
):
    app.command()(command)
app.add_typer(gold.app)  # `vsr gold sheet|import`
# --help goes to the dry run's own parser, which lists its flags.
app.command(
    "dry-run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(runs.dry_run)


def main() -> None:
    """Console script entry point (`vsr`)."""
    app(prog_name="vsr")


if __name__ == "__main__":
    main()
