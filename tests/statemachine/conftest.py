"""Fixtures of the pipeline's state-machine tests: one moto sandbox per module, a fresh Bedrock per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pipeline_support import Environment, Sandbox, environment, sandbox


@pytest.fixture(scope="module")
def env() -> Iterator[Environment]:
    with environment() as shared:
        yield shared


@pytest.fixture
def box(env: Environment) -> Iterator[Sandbox]:
    with sandbox(env) as one:
        yield one
