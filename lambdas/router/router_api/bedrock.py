"""Data access to Amazon Bedrock: one Converse call, its errors named, clients per time budget.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

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


class ModelCallError(Exception):
    """A Converse call that produced no answer. `kind` names why; `retryable` says if the same model may be asked again."""

    def __init__(self, kind: str, detail: str, *, retryable: bool) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retryable = retryable


# Error code -> (kind, retry the same model?). Throttling is not retried on the same model: its
# quota is exhausted now, and the fallback model has its own quota and answers sooner.
_CLIENT_ERRORS: Mapping[str, tuple[str, bool]] = {
    "ThrottlingException": ("throttled", False),
    "ServiceQuotaExceededException": ("throttled", False),
    "ModelNotReadyException": ("not_ready", True),
    "ServiceUnavailableException": ("unavailable", True),
    "InternalServerException": ("unavailable", True),
    "ModelTimeoutException": ("timeout", False),
    "ModelErrorException": ("model_error", False),
    "ValidationException": ("rejected", False),
    "AccessDeniedException": ("rejected", False),
    "ResourceNotFoundException": ("rejected", False),
}


@dataclass(frozen=True, slots=True)
class ConverseAnswer:
    text: str
    stop_reason: str | None
    input_tokens: int
    output_tokens: int


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


def converse(
    client: Any,
    *,
    model_id: str,
    system_prompt: str,
    query: str,
    max_tokens: int,
    request_metadata: Mapping[str, str],
) -> ConverseAnswer:
    """Ask `model_id` for a routing decision; raise `ModelCallError` for anything but an answer."""
    try:
        response = client.converse(
            modelId=model_id,
            system=[{"text": system_prompt}],
            messages=[{"role": "user", "content": [{"text": query}]}],
            inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
            requestMetadata=dict(request_metadata),
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
        kind, retryable = _CLIENT_ERRORS.get(code, ("error", False))
        if (
            kind == "error"
            and int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500
        ):
            kind, retryable = "unavailable", True
        raise ModelCallError(kind, code, retryable=retryable) from exc
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        # The budget of this call is spent: no time to ask the same model again.
        raise ModelCallError("timeout", type(exc).__name__, retryable=False) from exc
    except (EndpointConnectionError, ConnectionClosedError) as exc:
        raise ModelCallError("connection", type(exc).__name__, retryable=True) from exc
    except BotoCoreError as exc:
        raise ModelCallError("error", type(exc).__name__, retryable=False) from exc
    return _answer(response)


def _answer(response: Mapping[str, Any]) -> ConverseAnswer:
    try:
        content: Sequence[Any] = response["output"]["message"]["content"]
        text = "".join(block["text"] for block in content if isinstance(block, Mapping) and "text" in block)
    except (KeyError, TypeError) as exc:
        raise ModelCallError(
            "malformed_response", f"no output.message.content ({exc})", retryable=False
        ) from None
    usage = response.get("usage") or {}
    return ConverseAnswer(
        text=text,
        stop_reason=response.get("stopReason"),
        input_tokens=int(usage.get("inputTokens") or 0),
        output_tokens=int(usage.get("outputTokens") or 0),
    )


def backoff_s(
    attempt: int, *, base_s: float = 0.05, cap_s: float = 0.4, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1 = first retry)."""
    ceiling = min(cap_s, base_s * (2 ** (attempt - 1)))
    return ceiling * rand()
