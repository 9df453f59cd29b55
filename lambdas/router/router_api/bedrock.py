"""Bedrock Runtime clients of the router, one per time budget, and its backoff between attempts.

The call itself, its result and the classification of its errors are the runtime's
(`routing.converse`); the router's policy on top of them is in `router_api.service`.

botocore fixes connect/read timeouts when a client is created, not per call. To cap each
model call by what is left of the request's deadline, `ClientPool` keeps one client per
timeout tier (a short fixed ladder, so at most a handful of clients per container) and
hands out the largest tier that fits the budget. Clients are created on first use (not at
import: the cold start counts) and botocore's own retries are off: the caller retries,
because only it knows the deadline.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

# Timeout tiers in seconds: the budget of a call is rounded down to one of these.
TIMEOUT_TIERS_S: tuple[float, ...] = (
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    6.0,
    8.0,
    10.0,
    12.0,
    15.0,
    20.0,
    25.0,
)
MIN_CALL_S = TIMEOUT_TIERS_S[0]
# A warm connection is reused (keep-alive); a new TLS handshake in-region takes tens of ms.
MAX_CONNECT_TIMEOUT_S = 0.5


def timeout_tier(budget_s: float) -> float | None:
    """The largest tier that fits in `budget_s`, or None when not even the smallest does."""
    best = None
    for tier in TIMEOUT_TIERS_S:
        if tier > budget_s:
            break
        best = tier
    return best


def client_config(tier_s: float, max_pool_connections: int) -> Config:
    """Timeouts that together stay within `tier_s`; no botocore retries (the router retries within its deadline)."""
    connect = min(MAX_CONNECT_TIMEOUT_S, tier_s / 4)
    return Config(
        connect_timeout=connect,
        read_timeout=tier_s - connect,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )


class ClientPool:
    """Bedrock Runtime clients by timeout tier, created on first use; thread-safe."""

    def __init__(
        self,
        *,
        max_pool_connections: int = 10,
        create: Callable[[Config], Any] | None = None,
    ) -> None:
        self._max_pool_connections = max_pool_connections
        self._create = create or _boto3_client_factory()
        self._clients: dict[float, Any] = {}
        self._lock = threading.Lock()

    def client(self, tier_s: float) -> Any:
        client = self._clients.get(tier_s)
        if client is None:
            with self._lock:
                client = self._clients.get(tier_s)
                if client is None:
                    client = self._create(client_config(tier_s, self._max_pool_connections))
                    self._clients[tier_s] = client
        return client


def _boto3_client_factory() -> Callable[[Config], Any]:
    session: list[boto3.session.Session] = []

    def create(config: Config) -> Any:
        # One session for all tiers (it caches the service model); created under ClientPool's lock.
        if not session:
            session.append(boto3.session.Session())
        return session[0].client("bedrock-runtime", config=config)

    return create


def backoff_s(
    attempt: int, *, base_s: float = 0.05, cap_s: float = 0.4, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1 = first retry)."""
    ceiling = min(cap_s, base_s * (2 ** (attempt - 1)))
    return ceiling * rand()
