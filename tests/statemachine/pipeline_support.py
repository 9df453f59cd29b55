"""Helpers of the pipeline state-machine tests: the environment, a sandbox, a run.

The pipeline's real definition runs in moto through cdk_app.local_pipeline, with the real
handlers; Bedrock is tests/statemachine/fake_bedrock.FakeBedrock, handed in through the
documented seam (routing.pipeline.clients.override_clients).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from routing.pipeline.clients import override_clients

from cdk_app.local_pipeline import ExecutionResult, LocalPipeline, load_step_handlers
from stacks.constructs.pipeline_definition import load_definition, render

from tests.pipeline_support import BUCKET, ENVIRONMENT

from .fake_bedrock import FakeBedrock

# Loaded at collection, not inside a test: the handlers' Powertools Tracer (X-Ray SDK) opens its
# UDP emitter socket at import, which pytest-socket forbids once a test runs. Nothing is sent.
HANDLERS = load_step_handlers()
# Tests never wait: every Wait state takes 0 s.
NO_WAIT = {"wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0}}


@dataclass
class Sandbox:
    local: LocalPipeline
    bedrock: FakeBedrock
    definition: str
    topic_arn: str

    def run(
        self, execution_input: dict[str, Any] | None = None, *, name: str = "run-1", **kwargs: Any
    ) -> ExecutionResult:
        payload = {**NO_WAIT, **(execution_input or {})}
        return self.local.run(self.definition, payload, name=name, **kwargs)

    def object(self, key: str) -> bytes:
        return self.local.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        pages = self.local.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def sandbox(
    environment: dict[str, str] | None = None, bedrock: FakeBedrock | None = None
) -> Iterator[Sandbox]:
    fake = bedrock or FakeBedrock()
    with (
        LocalPipeline(HANDLERS, environment={**ENVIRONMENT, **(environment or {})}) as local,
        override_clients({"bedrock": fake, "bedrock-runtime": fake}),
    ):
        local.create_bucket(BUCKET)
        topic = local.create_topic()
        yield Sandbox(
            local, fake, render(load_definition(), local.substitutions(topic, prefix="vsr-test")), topic
        )
