"""Terminal output of the operator CLI: the two consoles, the error line, confirmations, and formatting.

Every command prints through `out` (stdout) and `err` (stderr); `fail` prints a user error as one
red line and returns the `typer.Exit` to raise. The formatters turn plain values (durations,
times, dollars, statuses, ratios) into the strings and rich `Text` every command shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)  # long lines (links, ARNs) stay copyable
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(message, style="red"))
    return typer.Exit(code)


def confirm(question: str, yes: bool) -> None:
    """Ask before changing anything (unless --yes); answering no ends the command, nothing changed."""
    if not yes and not typer.confirm(question, default=False):
        raise fail("cancelled: nothing changed")


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


def number(value: Any, digits: int = 2, suffix: str = "") -> str:
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


def bar(done: float, total: float, width: int = 30) -> Text:
    """A progress bar as text (stays on the line it is printed on, in tables and plain output)."""
    filled = round(width * min(max(done / total, 0.0), 1.0)) if total else 0
    return Text("█" * filled, style="green") + Text("░" * (width - filled), style="grey37")


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def gate_text(gate: Mapping[str, Any]) -> Text:
    if gate.get("passed"):
        return Text("passed", style="green")
    reasons = "; ".join(str(reason) for reason in gate.get("reasons", []))
    return Text("not passed" + (f": {reasons}" if reasons else ""), style="yellow")
