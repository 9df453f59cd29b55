"""Candidates answer the held-out (and gold) queries through Bedrock Converse.

Every candidate gets the same request (`routing.converse.converse_request`): the training
system prompt, the query as the only user message, `maxTokens` always set, temperature 0.
Calls run on one thread pool per candidate (`concurrency` calls in flight per model, so one
model's throttling never slows another's), retry what the runtime's one table of Bedrock
errors calls throttled or transient (`routing.converse.classify`) with capped exponential
backoff and full jitter, and stop starting new work once `should_stop()` says the
invocation's time budget is spent: unfinished queries are simply answered by the next
invocation.

Latency is measured on the client around the successful attempt (backoff excluded) and
Bedrock's own `metrics.latencyMs` is recorded next to it; tokens come from `usage`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from ..contract import LabelledExample
from ..converse import BEDROCK_ERRORS, ConverseResult, classify, converse, converse_request
from ..model_ids import on_demand_model_id  # noqa: F401 (the evaluation's candidates use it)
from ..settings import ReferenceSet

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 20.0
# Raw answers are kept for the report and the judge; a runaway answer is cut here.
MAX_ANSWER_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model answering one query set (its calls share the model's pool whatever the set)."""

    name: str
    model_id: str
    reference_set: ReferenceSet = "holdout"


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

    def request(self, model_id: str, query: str, metadata: dict[str, str]) -> dict[str, Any]:
        """The Converse parameters asking `model_id` about `query`."""
        return converse_request(
            model_id=model_id,
            system_prompt=self.system_prompt,
            prompt=query,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            request_metadata=metadata,
        )


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One finished Converse call (after retries): its answer, or the error that ended it."""

    answer: ConverseResult | None
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
        try:
            answer = converse(runtime, request, clock=clock)
        except BEDROCK_ERRORS as exc:
            fault = classify(exc)
            last_error = str(fault)[:500]
            if not fault.temporary or attempt >= MAX_ATTEMPTS:
                return CallOutcome(None, last_error, attempt)
            delay = jitter(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
            sleep(delay)
            continue
        return CallOutcome(replace(answer, text=answer.text[:MAX_ANSWER_CHARS]), None, attempt)


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
        request = settings.request(
            candidate.model_id, example.query, {**metadata, "candidate": candidate.name}
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
