"""The CLI's session: the configuration, region and AWS access one `vsr` invocation works with.

The configuration is read like the CDK app reads it: cdk.json's context (the nearest cdk.json,
else the project's) overridden by `-c key=value`, parsed by `cdk_app.config`. `CliState` is the
root context's object; commands get it with `cli_state(ctx)` and ask it for the `Operator`.
`Overrides` lets tests (and embedders) hand in clients instead of boto3's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import typer

from cdk_app.config import AppConfig, ConfigError, load_config
from cdk_app.operator.api import Operator

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def cli_state(ctx: typer.Context) -> CliState:
    """The session of the running `vsr` invocation (the root context's object)."""
    value = ctx.find_root().obj
    if not isinstance(value, CliState):
        raise RuntimeError("the vsr callback did not run")  # only when a command is invoked outside `app`
    return value
