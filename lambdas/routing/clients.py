"""AWS clients and the clock of the pipeline and evaluation Lambdas: the one seam tests and the dry run replace.

Logic functions take their clients as arguments; only handlers call `client()` and `now()`.
The state-machine tests and the local dry run (cdk_app/local/pipeline.py, cdk_app/local/dry_run.py)
hand in stand-ins with `override_clients({"bedrock": fake, "bedrock-runtime": fake})` and, to
move time, `override_clock(fn)`; to time model calls with a simulated clock (the dry run's
stand-in), `override_timer(fn)`; nothing is monkeypatched. Services not overridden get a
real boto3 client (inside moto during tests). An override replaces a service for every purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

# (service, purpose) -> botocore configuration; "default" where a service has one use.
_CONFIGS: dict[tuple[str, str], Config] = {
    # A teacher batch is thousands of output tokens: minutes, not seconds. Throttling is retried
    # by the state machine (backoff with jitter, no Lambda time spent waiting), so botocore
    # tries twice at most.
    ("bedrock-runtime", "teacher"): Config(
        connect_timeout=10, read_timeout=240, retries={"total_max_attempts": 2, "mode": "standard"}
    ),
    # Routing answers are short; a minute covers a slow model, and routing.evaluation.answering
    # retries throttling with backoff itself, so botocore does not.
    ("bedrock-runtime", "evaluation"): Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=100,
    ),
    ("bedrock", "default"): Config(retries={"total_max_attempts": 5, "mode": "standard"}),
    ("s3", "default"): Config(retries={"total_max_attempts": 5, "mode": "standard"}),
}

_made: dict[tuple[str, str], Any] = {}
_overrides: dict[str, Any] = {}
_clock: list[Callable[[], datetime]] = []
_timers: list[Callable[[], float]] = []


def client(service: str, purpose: str = "default") -> Any:
    """The shared client of `service` ("s3", "ssm", "bedrock", "bedrock-runtime") configured for `purpose`."""
    if service in _overrides:
        return _overrides[service]
    key = (service, purpose)
    if key not in _made:
        if purpose != "default" and key not in _CONFIGS:
            raise ValueError(f"no client configuration for {service} / {purpose}")
        _made[key] = boto3.client(service, config=_CONFIGS.get(key))
    return _made[key]


@contextmanager
def override_clients(clients: Mapping[str, Any]) -> Iterator[None]:
    """Use `clients` (service name -> client) instead of real ones inside the block.

    Also forgets clients made before, so a real client created outside a moto mock is
    not reused inside it.
    """
    previous = dict(_overrides)
    _overrides.update(clients)
    _made.clear()
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(previous)
        _made.clear()


def now() -> datetime:
    """The current time (UTC, timezone-aware), or the overriding clock's."""
    return _clock[-1]() if _clock else datetime.now(UTC)


@contextmanager
def override_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Use `clock` instead of the system time inside the block (deadline tests)."""
    _clock.append(clock)
    try:
        yield
    finally:
        _clock.remove(clock)


def timer() -> float:
    """Seconds of a monotonic clock to time model calls with: `time.perf_counter`, or the overriding timer's."""
    return _timers[-1]() if _timers else time.perf_counter()


@contextmanager
def override_timer(timer: Callable[[], float]) -> Iterator[None]:
    """Time model calls with `timer` inside the block (the dry run: the stand-in's simulated latencies)."""
    _timers.append(timer)
    try:
        yield
    finally:
        _timers.remove(timer)
