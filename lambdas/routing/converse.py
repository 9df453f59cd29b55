"""Amazon Bedrock calls of the whole runtime: one Converse request and result, one table of errors.

The teacher (`routing.pipeline`), the evaluation (`routing.evaluation.answering`) and the
router (`router_api`) ask models with `converse_request` and `converse`, which returns a
`ConverseResult`. Whatever botocore raises instead of an answer (`BEDROCK_ERRORS`: a
ClientError, or a fault of the connection) is read by `classify`, the one table of Bedrock
error codes, into a `Fault` of one of three classes:

- throttled: a rate limit; the same request succeeds later (another model, with its own
  quota, may answer now);
- transient: the service or the connection failed this time (5xx answers, model errors,
  timeouts, closed connections, cut-off responses); the same request may succeed;
- permanent: the same request fails again (validation, access, unknown model, quotas).

Each caller keeps its own policy on top of it: the pipeline raises named errors that the
state machine retries (`routing.pipeline.bedrock`), the evaluation retries in process with
backoff, the router retries only what fits its deadline, by the fault's `kind`.

botocore and the standard library only: the router imports this on its cold start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

THROTTLED = "throttled"
TRANSIENT = "transient"
PERMANENT = "permanent"

# Bedrock error code -> (kind, class). The kind names the failure in logs and in the router's
# outcomes (its metrics count "throttled"); the class says whether asking again can help.
ERROR_CODES: Mapping[str, tuple[str, str]] = {
    "ThrottlingException": ("throttled", THROTTLED),
    "TooManyRequestsException": ("throttled", THROTTLED),
    # A quota, not a rate: waiting does not lift it (the router still counts it as a throttle).
    "ServiceQuotaExceededException": ("throttled", PERMANENT),
    "ModelNotReadyException": ("not_ready", TRANSIENT),
    "ServiceUnavailableException": ("unavailable", TRANSIENT),
    "ServiceUnavailable": ("unavailable", TRANSIENT),
    "InternalServerException": ("unavailable", TRANSIENT),
    "InternalFailure": ("unavailable", TRANSIENT),
    "ModelTimeoutException": ("timeout", TRANSIENT),
    "RequestTimeout": ("timeout", TRANSIENT),
    "RequestTimeoutException": ("timeout", TRANSIENT),
    "ModelErrorException": ("model_error", TRANSIENT),
    "ModelStreamErrorException": ("model_error", TRANSIENT),
    "ValidationException": ("rejected", PERMANENT),
    "AccessDeniedException": ("rejected", PERMANENT),
    "ResourceNotFoundException": ("rejected", PERMANENT),
    "TooManyTagsException": ("rejected", PERMANENT),
}
# Any other code: transient when Bedrock answered 5xx, permanent otherwise.
_SERVER_FAULT = ("unavailable", TRANSIENT)
_UNKNOWN = ("error", PERMANENT)

# What a botocore call raises instead of an answer: Bedrock's error, or a fault of the call itself.
BEDROCK_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
# The call's time ran out before an answer (no time left to ask the same model again).
_TIMEOUTS: tuple[type[Exception], ...] = (ReadTimeoutError, ConnectTimeoutError)
# The connection failed, not the request: connect errors, closed connections, cut-off responses.
_CONNECTION_FAULTS: tuple[type[Exception], ...] = (
    HTTPClientError,
    BotocoreConnectionError,
    IncompleteReadError,
)


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a Bedrock call gave no answer: Bedrock's error code (or the exception's name) and its class."""

    code: str
    message: str
    kind: str
    severity: str  # THROTTLED, TRANSIENT or PERMANENT

    @property
    def temporary(self) -> bool:
        """Throttled or transient: the same request may succeed when asked again."""
        return self.severity != PERMANENT

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def error_code(exc: ClientError) -> str:
    """Bedrock's error code; event-stream errors name theirs in lower camel case ("throttlingException")."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code[:1].upper() + code[1:]


def classify(exc: BaseException) -> Fault:
    """The fault of a failed Bedrock call, by the table above (one of `BEDROCK_ERRORS`, usually)."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or type(exc).__name__
        message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
        kind, severity = ERROR_CODES.get(code) or (
            _SERVER_FAULT
            if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500
            else _UNKNOWN
        )
        return Fault(code, message, kind, severity)
    if isinstance(exc, _TIMEOUTS):
        kind, severity = "timeout", TRANSIENT
    elif isinstance(exc, _CONNECTION_FAULTS):
        kind, severity = "connection", TRANSIENT
    else:
        kind, severity = _UNKNOWN
    return Fault(type(exc).__name__, str(exc), kind, severity)


# ------------------------------------------------------------------------------ Converse


def converse_request(
    *,
    model_id: str,
    system_prompt: str,
    prompt: str,
    max_tokens: int,
    temperature: float,
    request_metadata: Mapping[str, str],
) -> dict[str, Any]:
    """Converse parameters: one system prompt, the prompt as the only user message, maxTokens always set."""
    return {
        "modelId": model_id,
        "system": [{"text": system_prompt}],
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
        "requestMetadata": dict(request_metadata),
    }


@dataclass(frozen=True, slots=True)
class ConverseResult:
    """One Converse answer: its text, why it stopped, its tokens, and how long it took.

    `latency_ms` is measured on the client around the call (milliseconds, to the
    microsecond); `server_latency_ms` is Bedrock's own `metrics.latencyMs`, when given.
    """

    text: str
    stop_reason: str | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    server_latency_ms: float | None = None


def answer_text(response: Mapping[str, Any]) -> str:
    """The text of a Converse answer: its text blocks joined (`output.message.content` is a list of blocks)."""
    blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
    return "".join(
        block["text"] for block in blocks if isinstance(block, Mapping) and isinstance(block.get("text"), str)
    )


def converse(
    client: Any, request: Mapping[str, Any], *, clock: Callable[[], float] = time.perf_counter
) -> ConverseResult:
    """One Converse call (no retries here); raises what botocore raises (see `classify`).

    `clock` (seconds, monotonic) times the call: the dry run hands in its stand-in's simulated clock.
    """
    started = clock()
    response = client.converse(**request)
    latency_ms = (clock() - started) * 1000.0
    usage = response.get("usage") or {}
    server = (response.get("metrics") or {}).get("latencyMs")
    return ConverseResult(
        text=answer_text(response),
        stop_reason=response.get("stopReason"),
        input_tokens=int(usage.get("inputTokens") or 0),
        output_tokens=int(usage.get("outputTokens") or 0),
        latency_ms=round(latency_ms, 3),
        server_latency_ms=float(server) if isinstance(server, (int, float)) else None,
    )
