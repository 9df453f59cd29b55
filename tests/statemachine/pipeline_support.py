"""Helpers of the pipeline state-machine tests: one moto sandbox per module, a fresh Bedrock per test.

The pipeline's real definition runs in moto through cdk_app.local.pipeline, with the real
handlers; Bedrock is the offline stand-in of the dry run (cdk_app.local.bedrock), handed in
through the documented seam (routing.clients.override_clients). A test scripts it (statuses,
throttling, faults) and reads its call log through `Sandbox.bedrock`, the stand-in's account.
Each test gets its own run id, so runs sharing the sandbox never share S3 keys, jobs or deployments.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from routing.clients import override_clients
from routing.observability import logger

from cdk_app.local.account import OfflineAccount
from cdk_app.local.bedrock import offline_clients
from cdk_app.local.pipeline import ExecutionResult, LocalPipeline, load_step_handlers
from stacks.constructs.pipeline_definition import load_definition, render
from tests.pipeline_support import BUCKET, ENVIRONMENT

# Loaded at collection, not inside a test: the handlers' Powertools Tracer (X-Ray SDK) opens its
# UDP emitter socket at import, which pytest-socket forbids once a test runs. Nothing is sent.
HANDLERS = load_step_handlers()
# Tests never wait: every Wait state takes 0 s.
NO_WAIT = {"wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0}}
_RUN_NUMBERS = itertools.count(1)


@dataclass
class Environment:
    """The shared part: moto, the bucket, the topic, the rendered definition."""

    local: LocalPipeline
    definition: str
    topic_arn: str


@contextmanager
def environment(overrides: dict[str, str] | None = None) -> Iterator[Environment]:
    """A sandbox with the test environment; handler logs and metrics quiet (thousands of invocations)."""
    level = logger.log_level
    logger.setLevel(logging.WARNING)
    quiet = {"POWERTOOLS_METRICS_DISABLED": "true"}
    try:
        with LocalPipeline(HANDLERS, environment={**ENVIRONMENT, **quiet, **(overrides or {})}) as local:
            local.create_bucket(BUCKET)
            topic = local.create_topic()
            yield Environment(
                local, render(load_definition(), local.substitutions(topic, prefix="vsr-test")), topic
            )
    finally:
        logger.setLevel(level)


@dataclass
class Sandbox:
    """One test's view: its own run id and its own Bedrock stand-in (script, resources, call log)."""

    env: Environment
    bedrock: OfflineAccount
    run_id: str

    @property
    def local(self) -> LocalPipeline:
        return self.env.local

    def run(
        self, execution_input: dict[str, Any] | None = None, *, name: str | None = None, **kwargs: Any
    ) -> ExecutionResult:
        payload = {**NO_WAIT, **(execution_input or {})}
        return self.local.run(self.env.definition, payload, name=name or self.run_id, **kwargs)

    def notifications(self) -> list[dict[str, Any]]:
        """Messages about this test's run: failures name the execution, outcomes the run in the subject."""
        return [
            note
            for note in self.local.notifications()
            if f"Distillation run {self.run_id} " in (note["message"] or "")
            or f"Router distillation {self.run_id}:" in (note["subject"] or "")
        ]

    def object(self, key: str) -> bytes:
        return self.local.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        pages = self.local.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def sandbox(env: Environment) -> Iterator[Sandbox]:
    """A fresh Bedrock stand-in and run id in the shared environment.

    One poll of a job or a deployment in progress, then done; the judge's output is read from and
    written to the sandbox's S3, like the dry run's.
    """
    clients = offline_clients(s3=env.local.s3, job_polls=1, deployment_polls=1)
    with override_clients(clients):
        yield Sandbox(env, clients["bedrock"].account, f"run-{next(_RUN_NUMBERS)}")
