"""Candidates answer the held-out queries through Bedrock Converse.

Every candidate gets the same request: the training system prompt, the query as the only
user message, `maxTokens` always set, temperature 0. Calls run on one thread pool per
candidate (`concurrency` calls in flight per model, so one model's throttling never slows
another's), retry throttling and transient errors with capped exponential backoff and full
jitter, and stop starting new work once `should_stop()` says the invocation's time budget
is spent: unfinished queries are simply answered by the next invocation.

Latency is measured on the client around the successful attempt (backoff excluded) and
Bedrock's own `metrics.latencyMs` is recorded next to it; tokens come from `usage`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from ..contract import LabelledExample
from ..model_ids import on_demand_model_id  # noqa: F401 (the evaluation's candidates use it)
from ..observability import logger

# Worth another attempt: quota and capacity errors, and the network.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 20.0
# Raw answers are kept for the report and the judge; a runaway answer is cut here.
MAX_ANSWER_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    model_id: str


@dataclass(frozen=True, slots=True)
class InferenceSettings:
    system_prompt: str
    max_tokens: int
    temperature: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One finished Converse call (after retries): an answer, or the error that ended it."""

    text: str | None
    latency_ms: float | None
    server_latency_ms: float | None
    input_tokens: int
    output_tokens: int
    stop_reason: str | None
    error: str | None
    attempts: int


class _OutOfTime(Exception):
    """The time budget ended before the call could finish: leave it to the next invocation.

    `last_error` is the transient error the call was retrying when the budget ended, if any:
    an invocation that finishes nothing says why with it.
    """

    def __init__(self, last_error: str | None = None) -> None:
        super().__init__(last_error or "out of time")
        self.last_error = last_error


def answer_text(response: dict[str, Any]) -> str:
    """The text of a Converse answer: `output.message.content` is a list of blocks."""
    blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
    return "".join(
        block["text"] for block in blocks if isinstance(block, dict) and isinstance(block.get("text"), str)
    )


def converse_request(
    model_id: str, query: str, settings: InferenceSettings, metadata: dict[str, str]
) -> dict[str, Any]:
    return {
        "modelId": model_id,
        "system": [{"text": settings.system_prompt}],
        "messages": [{"role": "user", "content": [{"text": query}]}],
        "inferenceConfig": {"maxTokens": settings.max_tokens, "temperature": settings.temperature},
        "requestMetadata": metadata,
    }


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def call_with_retries(
    runtime: Any,
    request: dict[str, Any],
    *,
    should_stop: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float, float], float] = random.uniform,
    clock: Callable[[], float] = time.perf_counter,
) -> CallOutcome:
    """Call Converse until it answers, fails for good, or the time budget ends (raises _OutOfTime)."""
    attempt = 0
    last_error: str | None = None
    while True:
        if should_stop():
            raise _OutOfTime(last_error)
        attempt += 1
        started = clock()
        try:
            response = runtime.converse(**request)
        except (ClientError, ReadTimeoutError, ConnectionError, BotoCoreError) as exc:
            code = _error_code(exc)
            retryable = code in RETRYABLE_CODES or isinstance(exc, (ReadTimeoutError, ConnectionError))
            last_error = f"{code}: {exc}"[:500]
            if not retryable or attempt >= MAX_ATTEMPTS:
                return CallOutcome(None, None, None, 0, 0, None, last_error, attempt)
            delay = jitter(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
            sleep(delay)
            continue
        latency_ms = (clock() - started) * 1000.0
        usage = response.get("usage") or {}
        server = (response.get("metrics") or {}).get("latencyMs")
        return CallOutcome(
            text=answer_text(response)[:MAX_ANSWER_CHARS],
            latency_ms=round(latency_ms, 3),
            server_latency_ms=float(server) if isinstance(server, (int, float)) else None,
            input_tokens=int(usage.get("inputTokens") or 0),
            output_tokens=int(usage.get("outputTokens") or 0),
            stop_reason=response.get("stopReason"),
            error=None,
            attempts=attempt,
        )


Work = tuple[Candidate, int, LabelledExample]
Finished = Callable[[Candidate, int, LabelledExample, CallOutcome], None]


def answer_all(
    runtime: Any,
    work: Iterable[Work],
    settings: InferenceSettings,
    *,
    concurrency: int,
    should_stop: Callable[[], bool],
    on_finished: Finished,
    metadata: dict[str, str],
    sleep: Callable[[float], None] = time.sleep,
    on_cut_short: Callable[[str | None], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """Answer every (candidate, index, example) of `work`; returns how many finished.

    `on_finished` is called (under a lock, from worker threads) for each finished call,
    including calls that failed for good; calls cut short by the time budget are not reported
    there but to `on_cut_short`, with the transient error they were retrying (or None).
    `clock` times each call (seconds, read in the calling thread before and after it).
    """
    by_candidate: dict[str, list[Work]] = {}
    for item in work:
        by_candidate.setdefault(item[0].name, []).append(item)
    lock = threading.Lock()
    finished = 0

    def run(item: Work) -> None:
        nonlocal finished
        candidate, index, example = item
        request = converse_request(
            candidate.model_id, example.query, settings, {**metadata, "candidate": candidate.name}
        )
        try:
            outcome = call_with_retries(runtime, request, should_stop=should_stop, sleep=sleep, clock=clock)
        except _OutOfTime as cut:
            if on_cut_short is not None:
                with lock:
                    on_cut_short(cut.last_error)
            return
        with lock:
            on_finished(candidate, index, example, outcome)
            finished += 1

    pools = [ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) for name in by_candidate]
    try:
        futures = [
            pool.submit(run, item)
            for pool, items in zip(pools, by_candidate.values(), strict=True)
            for item in items
        ]
        for future in futures:
            future.result()
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
    logger.info("answered", extra={"finished": finished, "submitted": sum(map(len, by_candidate.values()))})
    return finished


def pending_work(
    candidates: Sequence[Candidate], examples: Sequence[LabelledExample], done: set[tuple[str, int]]
) -> list[Work]:
    """Query-major order (every candidate answers query 0, then query 1...) of what is not done yet."""
    return [
        (candidate, index, example)
        for index, example in enumerate(examples)
        for candidate in candidates
        if (candidate.name, index) not in done
    ]
