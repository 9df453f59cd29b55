"""AWS clients of the evaluation Lambdas, created once per execution environment.

Logic functions take their clients as arguments; only handlers call `client()`. The local
dry run and the state-machine tests hand in stand-ins through `override_clients`, the one
documented seam (nothing is monkeypatched).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

# Bedrock answers for routing are short; a minute covers a slow model, and our own retry loop
# (routing.evaluation.answering) handles throttling with backoff, so botocore does not retry.
_CONFIGS: dict[str, Config] = {
    "bedrock-runtime": Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=100,
    ),
    "bedrock": Config(retries={"max_attempts": 5, "mode": "standard"}),
}

_made: dict[str, Any] = {}
_overrides: dict[str, Any] = {}


def client(service: str) -> Any:
    """The shared client of `service` ("s3", "ssm", "bedrock", "bedrock-runtime")."""
    if service in _overrides:
        return _overrides[service]
    if service not in _made:
        _made[service] = boto3.client(service, config=_CONFIGS.get(service))
    return _made[service]


@contextmanager
def override_clients(clients: Mapping[str, Any]) -> Iterator[None]:
    """Use `clients` (service name -> client) instead of real ones inside the block.

    Also forgets clients made before, so a real client made outside a moto mock is not reused
    inside it. Same seam and signature as routing.pipeline.clients.
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
