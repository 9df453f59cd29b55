"""A rollout in the router: which queries the candidate sees, the shadow call, and how its answer compares.

The active-model parameter may carry a `rollout` (`routing.active_model.Rollout`: a candidate,
`shadow` or `canary`, for `percent` % of queries); `model_selection` has already checked that
this deployment may serve the candidate. Here:

- **Selection** (`selected`): a stable hash (BLAKE2b) of the candidate's model id and the
  normalised query gives each query a bucket in [0, 100) with 0.01 resolution; the query is in
  the rollout when its bucket is below `percent`. The same query gets the same answer in every
  container and after every cold start, raising `percent` only adds queries, and a new
  candidate draws a new sample (its id is part of the hash).
- **Canary**: the router serves the chosen queries with the candidate (candidate -> fallback
  model -> heuristic, as for the active model); `canary_result` reads what the candidate did
  from the chain's calls.
- **Shadow** (`ShadowRunner`): on a cache miss the candidate is asked on a bounded pool, in
  parallel with the active model, under its own budget (the active call's budget + the slack),
  so it never takes the active model's time. After the served answer is ready the router waits
  at most the slack for it; a candidate not done by then is "late" (its call finishes in the
  background and is dropped). The served answer never changes. When every slot of the pool is
  taken (late calls hold theirs until their budget ends) the query is not shadowed ("busy").
- **Agreement** (`agreement`): the dominant-modality rule of the rubric (`routing.rubric`: the
  candidate disagrees when it ranks first a modality the served answer does not) and the mean
  absolute weight difference, against the active model's served answer only (a fallback or
  heuristic answer is no reference).

No logging, no metrics: `telemetry.record_results` reads the `CandidateResult` of each query.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from routing import RoutingDecision
from routing.active_model import Rollout

MODE_SHADOW = "shadow"
MODE_CANARY = "canary"
ROLE_CANDIDATE = "candidate"  # the Converse requestMetadata model_role of every candidate call

# Outcomes of a candidate besides the model-call outcomes of service.ModelCall.
OUTCOME_LATE = "late"  # shadow: not done within the slack after the served answer
OUTCOME_BUSY = "busy"  # shadow: no free slot, the candidate was not asked
_ANSWERED = frozenset({"ok", "parse_failure"})

_BUCKETS = 10_000  # percent resolution 0.01


def bucket(query_key: str, candidate: str) -> float:
    """The query's place in [0, 100) for this candidate: stable across containers and restarts.

    `surrogatepass`: a normalised query may hold a lone surrogate (JSON "\\ud800"); it hashes like any text.
    """
    data = candidate.encode("utf-8", "surrogatepass") + b"\0" + query_key.encode("utf-8", "surrogatepass")
    number = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    return (number % _BUCKETS) / (_BUCKETS / 100)


def selected(rollout: Rollout | None, query_key: str) -> str | None:
    """The rollout's mode when the query (normalised) is in its share, else None."""
    if rollout is None or rollout.percent <= 0.0:
        return None
    if rollout.percent >= 100.0 or bucket(query_key, rollout.model_id) < rollout.percent:
        return rollout.mode
    return None


@dataclass(frozen=True, slots=True)
class CandidateResult:
    """What the rollout's candidate did for one query."""

    model_id: str
    mode: str
    # "ok", "parse_failure", "no_time", "error", a fault kind of routing.converse, "late" or "busy".
    outcome: str
    latency_ms: float | None = None  # the candidate's model call, when it answered
    detail: str | None = None
    # Shadow, when compared with the active model's served answer: dominant modality differs, and
    # the mean absolute weight difference.
    disagreed: bool | None = None
    weight_difference: float | None = None

    @property
    def asked(self) -> bool:
        return self.outcome != OUTCOME_BUSY

    @property
    def fallback(self) -> bool:
        """The candidate gave no usable answer (for a canary: someone else served)."""
        return self.asked and self.outcome != "ok"

    @property
    def denied(self) -> bool:
        """IAM refused the call (a deployment this project did not tag): the router stops the rollout."""
        return self.outcome == "rejected" and self.detail == "AccessDeniedException"

    @property
    def compared(self) -> bool:
        return self.disagreed is not None

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "outcome": self.outcome, "detail": self.detail}


def canary_result(model_id: str, calls: Sequence[Any]) -> CandidateResult:
    """The candidate's outcome from the chain's calls (service.ModelCall) of a canary query."""
    own = [call for call in calls if call.role == ROLE_CANDIDATE]
    if not own:
        return CandidateResult(model_id, MODE_CANARY, "no_time")
    last = own[-1]
    return CandidateResult(
        model_id,
        MODE_CANARY,
        last.outcome,
        latency_ms=last.latency_ms if last.outcome in _ANSWERED else None,
        detail=last.detail,
    )


def agreement(served: RoutingDecision, candidate: RoutingDecision) -> tuple[bool, float]:
    """(dominant modality differs, mean absolute weight difference) of the candidate against the served answer."""
    # Imported on the first comparison, not with the handler: the cold import counts, most routers never shadow.
    from routing.rubric import dominant_set

    disagreed = not set(dominant_set(candidate.weights)) <= set(dominant_set(served.weights))
    names = tuple(served.weights)
    difference = math.fsum(abs(candidate.weights.get(name, 0.0) - served.weights[name]) for name in names)
    return disagreed, difference / len(names) if names else 0.0


# decide() -> (decision or None, its model calls): ModelInvoker.decide bound to the candidate and its budget.
Decide = Callable[[], tuple[RoutingDecision | None, list[Any]]]


class ShadowCall:
    """A candidate call submitted in parallel with the active model's."""

    def __init__(self, model_id: str, future: Future) -> None:
        self.model_id = model_id
        self.future = future


class ShadowRunner:
    """Runs shadow calls on a bounded pool (created on first use) and waits at most `slack_ms` for them."""

    def __init__(
        self,
        *,
        slack_ms: float,
        max_in_flight: int,
        wait: Callable[[Future, float], bool] | None = None,
    ) -> None:
        self.slack_ms = slack_ms
        self._max = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._wait = wait or _wait
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self, model_id: str, decide: Decide) -> ShadowCall | None:
        """Submit `decide` (the candidate's call under its own budget); None when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            return None
        try:
            future = self._executor().submit(self._run, decide)
        except RuntimeError:  # no thread could be started: the query is not shadowed, the request goes on
            self._slots.release()
            return None
        return ShadowCall(model_id, future)

    def finish(
        self, call: ShadowCall | None, model_id: str, served: RoutingDecision | None, remaining_ms: float
    ) -> CandidateResult:
        """The candidate's outcome, waiting at most the slack (and never past the request's deadline)."""
        # A late call is left to finish on its own (botocore cannot cancel it). It may be paused on the way:
        # "Lambda freezes the execution environment when the runtime and each extension have completed and
        # there are no pending events" (Lambda developer guide, the execution environment lifecycle); it then
        # ends in a later invocation and its result is dropped.
        if call is None:
            return CandidateResult(model_id, MODE_SHADOW, OUTCOME_BUSY)
        timeout_s = max(0.0, min(self.slack_ms, remaining_ms)) / 1000.0
        if not call.future.done() and not self._wait(call.future, timeout_s):
            return CandidateResult(model_id, MODE_SHADOW, OUTCOME_LATE)
        try:
            decision, calls = call.future.result(timeout=0)
        except (
            Exception
        ) as exc:  # decide never raises; a bug in it is a failed candidate, not a failed request
            return CandidateResult(model_id, MODE_SHADOW, "error", detail=type(exc).__name__)
        last = calls[-1] if calls else None
        outcome = last.outcome if last is not None else "no_time"
        latency = last.latency_ms if last is not None and outcome in _ANSWERED else None
        detail = last.detail if last is not None else None
        if decision is None or served is None:
            return CandidateResult(model_id, MODE_SHADOW, outcome, latency, detail)
        disagreed, difference = agreement(served, decision)
        return CandidateResult(model_id, MODE_SHADOW, outcome, latency, detail, disagreed, difference)

    def _run(self, decide: Decide) -> tuple[RoutingDecision | None, list[Any]]:
        try:
            return decide()
        finally:
            self._slots.release()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self._max, thread_name_prefix="shadow")
        return self._pool


def _wait(future: Future, timeout_s: float) -> bool:
    done, _pending = wait_futures([future], timeout=timeout_s)
    return bool(done)
