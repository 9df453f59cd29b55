"""Synthesizes the whole app once per test session (bundling skipped) and shares it.

Synthesis runs the cdk-nag AwsSolutions plugin: an unacknowledged finding makes
`app.synth()` raise, so every infrastructure test also proves the app is nag-clean.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from cdk_app.app import build_app
from cdk_app.config import AppConfig, load_config
from stacks.router_api_stack import RouterApiStack
from stacks.storage_stack import StorageStack

NO_BUNDLING = {"aws:cdk:bundling-stacks": []}
PARTITION = {"Ref": "AWS::Partition"}


def in_partition(value: Any, partition: str = "aws") -> Any:
    """`value` (template JSON) as CloudFormation renders it in `partition`: every `AWS::Partition`
    reference filled in, a join of only literal text left as that text (`arn:aws:bedrock:...`)."""
    if isinstance(value, list):
        return [in_partition(item, partition) for item in value]
    if not isinstance(value, dict):
        return value
    if value == PARTITION:
        return partition
    join = value.get("Fn::Join") if len(value) == 1 else None
    if join and join[0] == "" and PARTITION in join[1]:
        parts: list[Any] = []
        for part in in_partition(join[1], partition):
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            else:
                parts.append(part)
        return parts[0] if len(parts) == 1 and isinstance(parts[0], str) else {"Fn::Join": ["", parts]}
    return {key: in_partition(item, partition) for key, item in value.items()}


@dataclass
class SynthesizedApp:
    config: AppConfig
    stacks: dict[str, cdk.Stack]
    templates: dict[str, Template]
    template_files: dict[str, Path]


def synthesize(tmp_dir: Path, **context) -> SynthesizedApp:
    """Build and synthesize the app with `context` overrides; raises on any cdk-nag finding."""
    app, config, stacks = build_app({**NO_BUNDLING, **context}, outdir=str(tmp_dir))
    assembly = app.synth()
    templates = {role: Template.from_stack(stack) for role, stack in stacks.items()}
    files = {
        role: Path(assembly.get_stack_by_name(stack.stack_name).template_full_path)
        for role, stack in stacks.items()
    }
    return SynthesizedApp(config=config, stacks=stacks, templates=templates, template_files=files)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The app with its cdk.json defaults."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def storage_template(synthesized: SynthesizedApp) -> Template:
    """The storage template as deployed in the `aws` partition."""
    return Template.from_json(in_partition(synthesized.templates["storage"].to_json()))


REPO = Path(__file__).resolve().parents[2]
SHARED_CACHE = {"enabled": True, "ttl_seconds": 1_800, "budget_ms": 6}


@pytest.fixture(scope="session")
def shared_cache_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The storage and router stacks with `router_shared_cache` enabled (SHARED_CACHE), under cdk-nag.

    Only the two stacks the router needs, so this second synthesis stays short.
    """
    context = {**json.loads((REPO / "cdk.json").read_text())["context"], **NO_BUNDLING,
               "router_shared_cache": SHARED_CACHE}  # fmt: skip
    outdir = tmp_path_factory.mktemp("shared-cache")
    app = cdk.App(context=context, outdir=str(outdir))
    config = load_config({key: value for key, value in context.items() if not key.startswith(("@", "aws:"))})
    env = cdk.Environment(region=config.region)
    stacks: dict[str, cdk.Stack] = {"storage": StorageStack(app, "Storage", config=config, env=env)}
    stacks["router_api"] = RouterApiStack(app, "RouterApi", config=config, storage=stacks["storage"], env=env)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    return SynthesizedApp(
        config=config,
        stacks=stacks,
        templates={role: Template.from_stack(stack) for role, stack in stacks.items()},
        template_files={
            role: Path(assembly.get_stack_by_name(stack.stack_name).template_full_path)
            for role, stack in stacks.items()
        },
    )
