"""CDK app entry point: reads the configuration, builds the stacks, applies cdk-nag.

`cdk synth` runs `python -m cdk_app.app` (see cdk.json). Synthesis is offline: no
lookups, no credentials, no Docker (Lambda dependencies are bundled by local pip).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import AppConfig, ConfigError, load_config
from cdk_app.stack_outputs import PIPELINE, ROUTER_API, STORAGE
from stacks.pipeline_stack import PipelineStack
from stacks.router_api_stack import RouterApiStack
from stacks.storage_stack import StorageStack


def add_stacks(app: cdk.App, config: AppConfig) -> dict[str, cdk.Stack]:
    """Create the product's stacks in `app`; returns them by role."""
    env = cdk.Environment(account=config.account, region=config.region)
    storage = StorageStack(app, "Storage", stack_name=config.stack_name(STORAGE), config=config, env=env,
                           description="Video search router distillation: data bucket, Bedrock roles, active model")  # fmt: skip
    stacks: dict[str, cdk.Stack] = {"storage": storage}
    stacks["router_api"] = RouterApiStack(app, "RouterApi", stack_name=config.stack_name(ROUTER_API), config=config,
                                          storage=storage, env=env, description="Video search router: REST API, router Lambda, dashboard and alarms")  # fmt: skip
    stacks["pipeline"] = PipelineStack(app, "Pipeline", stack_name=config.stack_name(PIPELINE), config=config,
                                       storage=storage, env=env, description="Video search router distillation: pipeline state machine, step Lambdas, run notifications")  # fmt: skip
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", config.project_name)
        cdk.Tags.of(stack).add("stage", config.stage)
    return stacks


def build_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, AppConfig, dict[str, cdk.Stack]]:
    """Build the whole app; `context` adds to (and overrides) cdk.json's context, as `-c` does."""
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = load_config(_context_of(app, extra_keys=context or {}))
    stacks = add_stacks(app, config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, config, stacks


def _context_of(app: cdk.App, extra_keys: Mapping[str, Any]) -> dict[str, Any]:
    """Every context value the app was given: cdk.json and `-c` (passed by the CDK CLI) and `extra_keys`.

    Unknown keys are collected too, so that a misspelt setting is refused instead of ignored.
    """
    from_cli = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    names = set(AppConfig.model_fields) | set(from_cli) | set(extra_keys)
    values = {name: app.node.try_get_context(name) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def main() -> None:
    try:
        app, _config, _stacks = build_app()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    app.synth()


if __name__ == "__main__":
    main()
