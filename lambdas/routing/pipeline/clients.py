"""AWS clients and the clock of the pipeline Lambdas: the one seam tests and the dry run replace.

Logic functions take their clients as arguments; only handlers call `client()` and `now()`.
The state-machine tests and the local dry run (cdk_app/local_pipeline.py) hand in
stand-ins with `override_clients({"bedrock": fake, "bedrock-runtime": fake})` and, to
move time, `override_clock(fn)`; nothing is monkeypatched. Services not overridden get a
real boto3 client (inside moto during tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

_CONFIGS: dict[str, Config] = {
    # A teacher batch is thousands of output tokens: minutes, not seconds. Throttling is retried
    # by the state machine (backoff with jitter, no Lambda time spent waiting), so botocore
    # tries twice at most.
    "bedrock-runtime": Config(
        connect_timeout=10, read_timeout=240, retries={"total_max_attempts": 2, "mode": "standard"}
    ),
    "bedrock": Config(retries={"total_max_attempts": 4, "mode": "standard"}),
    "s3": Config(retries={"total_max_attempts": 5, "mode": "standard"}),
}

_made: dict[str, Any] = {}
_overrides: dict[str, Any] = {}
_clock: list[Callable[[], datetime]] = []


def client(service: str) -> Any:
    """The shared client of `service` ("s3", "bedrock", "bedrock-runtime")."""
    if service in _overrides:
        return _overrides[service]
    if service not in _made:
        _made[service] = boto3.client(service, config=_CONFIGS.get(service))
    return _made[service]


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
