"""The routing logic: cache -> tier-0 -> active model -> fallback model -> heuristic, within one deadline.

Plain Python, no Lambda: the handler gives it queries and a `Deadline`, it gives back one
`RouteResult` per query. Every path ends in an answer, so a model failure is never an
error of the API:

1. the cache, keyed by the normalised query and the active model: in process, then (when
   configured) the shared DynamoDB table within its own few-millisecond budget (`shared_cache`);
   then tier-0 (router_api.local_tier), the serving run's local model, when it is loaded and
   confident about the query (not cached: it answers in microseconds);
2. the active model (the promoted one, else the configured default), retried once on
   errors that a second attempt can cure (model not ready, service unavailable, a dropped
   connection: the fault kinds in `RETRIED_KINDS`);
   (a model that throttled less than `throttle_window_ms` ago is skipped: router_api.throttle_window);
3. the fallback model, with what is left of the deadline;
   then tier-0 whatever its confidence (degraded);
4. the heuristic, which needs microseconds and so always fits.

A rollout (`router_api.rollout`) changes this per query: a canary query is served by the
candidate in the active model's place (and cached under the candidate); a shadow query also
asks the candidate in parallel, on its own budget, and serves the active model's answer.
A canary query's tier-0 is the candidate run's own local model (`Rollout.local_model`); a query
tier-0 answers confidently asks no model, so it is in neither side's rollout record.

Budget: a model call's timeout is what remains of the deadline minus a reserve for the
steps after it (a share of the deadline for the fallback model, a few milliseconds for
the heuristic), so the chain always finishes inside the deadline. A batch shares one
deadline; its items run on a bounded thread pool and are independent: one failing model
call degrades only its own item (but a throttle opens the container's throttle window).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from routing import RoutingDecision, heuristic_decision, normalise_query, parse_decision, system_prompt
from routing.converse import BEDROCK_ERRORS, classify, converse, converse_request

from .bedrock import MIN_CALL_S, ClientPool, backoff_s, timeout_tier
from .cache import DecisionCache
from .local_tier import LoadedLocalModel, LocalTier
from .model_selection import ActiveModel, ActiveModelSource
from .rollout import (
    MODE_CANARY,
    MODE_SHADOW,
    ROLE_CANDIDATE,
    CandidateResult,
    ShadowCall,
    ShadowRunner,
    canary_result,
    selected,
)
from .settings import RouterSettings

if (
    TYPE_CHECKING
):  # imported when a shared cache is configured (build_router): off by default, cold start counts
    from .shared_cache import LayeredCache
from .throttle_window import SHED, ThrottleWindow

SOURCE_MODEL = "model"
SOURCE_FALLBACK = "fallback_model"
SOURCE_HEURISTIC = "heuristic"
SOURCE_CACHE = "cache"
SOURCE_LOCAL = "local"
HEURISTIC_MODEL = "heuristic"

ROLE_ACTIVE = "active"
ROLE_FALLBACK = "fallback"

MAX_ATTEMPTS_PER_MODEL = 2
# Fault kinds worth a second attempt on the same model. Throttling is not: that model's quota is
# exhausted now, and the fallback model has its own quota and answers sooner; a timeout has spent
# the call's budget.
RETRIED_KINDS = frozenset({"not_ready", "unavailable", "connection"})
# Share of the deadline kept for the fallback model while the active model is asked.
FALLBACK_SHARE = 0.35
# Time kept for the heuristic and for shaping the response after the last model call.
HEURISTIC_RESERVE_MS = 25.0
# Time kept between the router's deadline and the Lambda timeout (response, metrics flush).
INVOCATION_SAFETY_MS = 250.0


@dataclass(frozen=True, slots=True)
class Deadline:
    """A request's time budget, measured on a monotonic clock."""

    started: float
    budget_ms: float
    clock: Callable[[], float] = time.perf_counter

    @classmethod
    def start(
        cls,
        budget_ms: float,
        invocation_remaining_ms: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> Deadline:
        """`budget_ms`, shortened when the invocation itself has less time left."""
        if invocation_remaining_ms is not None:
            budget_ms = min(budget_ms, invocation_remaining_ms - INVOCATION_SAFETY_MS)
        return cls(clock(), max(budget_ms, 0.0), clock)

    def elapsed_ms(self) -> float:
        return (self.clock() - self.started) * 1000.0

    def remaining_ms(self) -> float:
        return self.budget_ms - self.elapsed_ms()


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One attempt to get an answer from a model, for metrics and logs."""

    model_id: str
    role: str
    # "ok", "parse_failure", "no_time", "error", "shed" (skipped: router_api.throttle_window), or a fault
    # kind of routing.converse
    outcome: str
    latency_ms: float = 0.0
    detail: str | None = None
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RouteResult:
    """The answer for one query, and how it was obtained."""

    decision: RoutingDecision
    model: str
    source: str
    degraded: bool
    latency_ms: float
    active_model: str
    calls: tuple[ModelCall, ...] = field(default=())
    # What the rollout's candidate did, when the query is in its share and was not a cache hit.
    candidate: CandidateResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public response shape: the flat decision plus model, source, degraded, latency_ms."""
        flat = self.decision.to_dict()
        flat["model"] = self.model
        flat["source"] = self.source
        flat["degraded"] = self.degraded
        flat["latency_ms"] = round(self.latency_ms, 3)
        return flat


class ModelInvoker:
    """Asks one model for a decision within a budget, with bounded retries; never raises."""

    def __init__(
        self,
        settings: RouterSettings,
        clients: ClientPool,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._sleep = sleep
        self._clock = clock
        self._prompt = system_prompt(settings.modalities)

    def decide(
        self, model_id: str, role: str, query: str, deadline: Deadline, reserve_ms: float
    ) -> tuple[RoutingDecision | None, list[ModelCall]]:
        calls: list[ModelCall] = []
        request = converse_request(
            model_id=model_id,
            system_prompt=self._prompt,
            prompt=query,
            max_tokens=self._settings.max_tokens,
            temperature=0.0,
            request_metadata={"app": self._settings.app_tag, "model_role": role},
        )
        for attempt in range(1, MAX_ATTEMPTS_PER_MODEL + 1):
            tier = timeout_tier((deadline.remaining_ms() - reserve_ms) / 1000.0)
            if tier is None:
                calls.append(ModelCall(model_id, role, "no_time"))
                return None, calls
            started = self._clock()
            try:
                answer = converse(self._clients.client(tier), request)
            except BEDROCK_ERRORS as exc:
                fault = classify(exc)
                calls.append(ModelCall(model_id, role, fault.kind, self._ms_since(started), fault.code))
                if fault.kind not in RETRIED_KINDS or attempt == MAX_ATTEMPTS_PER_MODEL:
                    return None, calls
                pause = backoff_s(attempt)
                if (deadline.remaining_ms() - reserve_ms) / 1000.0 - pause < MIN_CALL_S:
                    return None, calls
                self._sleep(pause)
                continue
            except Exception as exc:  # an unexpected client failure is a failed model, not a failed request
                calls.append(ModelCall(model_id, role, "error", self._ms_since(started), type(exc).__name__))
                return None, calls
            latency = self._ms_since(started)
            parsed = parse_decision(answer.text, self._settings.modalities)
            if parsed.ok:
                calls.append(ModelCall(model_id, role, "ok", latency, None, answer.output_tokens))
                return parsed.decision, calls
            # Temperature 0: asking again would return the same answer.
            detail = (
                parsed.error
                if answer.stop_reason != "max_tokens"
                else f"{parsed.error} (stopReason max_tokens)"
            )
            calls.append(ModelCall(model_id, role, "parse_failure", latency, detail, answer.output_tokens))
            return None, calls
        return None, calls

    def _ms_since(self, started: float) -> float:
        return (self._clock() - started) * 1000.0


class Router:
    """Routes queries through the cache and the fallback chain."""

    def __init__(
        self,
        settings: RouterSettings,
        *,
        models: ModelInvoker,
        active_model: ActiveModelSource,
        cache: DecisionCache | LayeredCache,
        local: LocalTier | None = None,
        clock: Callable[[], float] = time.perf_counter,
        shadow: ShadowRunner | None = None,
    ) -> None:
        self.settings = settings
        self.local = local
        self._throttles = ThrottleWindow(settings.throttle_window_ms, clock)
        self._models = models
        self._active = active_model
        self.cache = cache
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._shadow = shadow or ShadowRunner(
            slack_ms=settings.shadow_slack_ms, max_in_flight=settings.batch_concurrency
        )

    def route(self, queries: Sequence[str], deadline: Deadline) -> list[RouteResult]:
        """One result per query, in order; a batch runs on a bounded thread pool under one deadline."""
        active = self._active.current()
        # Never waits: None until the active value's tier-0 model is loaded (or when it has none).
        local = self._local_models(active)
        if len(queries) == 1:
            return [self._route_one(queries[0], active, local, deadline)]
        # Identical queries (after normalisation) are routed once.
        keys = [normalise_query(query) for query in queries]
        first_of: dict[str, int] = {}
        for index, key in enumerate(keys):
            first_of.setdefault(key, index)
        pool = self._batch_pool()
        futures = {
            key: pool.submit(self._route_one, queries[index], active, local, deadline, key)
            for key, index in first_of.items()
        }
        # Each item finishes within the deadline (its model calls are capped by it), so this wait is bounded.
        unique = {key: future.result() for key, future in futures.items()}
        # A repeated query shares its first occurrence's answer but not its model calls (counted once).
        return [
            unique[key] if first_of[key] == index else replace(unique[key], calls=(), candidate=None)
            for index, key in enumerate(keys)
        ]

    def _local_models(self, active: ActiveModel) -> tuple[LoadedLocalModel | None, LoadedLocalModel | None]:
        """The loaded tier-0 models of the active run and of a rollout's candidate (None until loaded, or absent)."""
        if self.local is None:
            return None, None
        candidate = active.rollout.local_model if active.rollout is not None else None
        active_local, candidate_local = self.local.select(active.local_model, candidate)
        return active_local, candidate_local

    def _batch_pool(self) -> ThreadPoolExecutor:
        """One pool per container, created on the first batch: threads are reused across invocations."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.settings.batch_concurrency, thread_name_prefix="route"
                    )
        return self._pool

    def _route_one(
        self,
        query: str,
        active: ActiveModel,
        local: tuple[LoadedLocalModel | None, LoadedLocalModel | None],
        deadline: Deadline,
        key: str | None = None,
    ) -> RouteResult:
        started = self._clock()
        key = key if key is not None else normalise_query(query)
        rollout = active.rollout
        mode = selected(rollout, key)
        serving = rollout.model_id if rollout is not None and mode == MODE_CANARY else active.model_id
        cached = self.cache.get(key, serving)
        if cached is not None:
            return RouteResult(cached, serving, SOURCE_CACHE, False, self._ms_since(started), active.model_id)
        # Tier-0 of the run that serves this query: the candidate's for a canary query, else the active one's.
        tier0_model = local[1] if mode == MODE_CANARY else local[0]
        tier0 = tier0_model.answer(query) if tier0_model is not None else None
        if tier0 is not None and tier0.confident:
            return RouteResult(
                tier0.decision, tier0.model, SOURCE_LOCAL, False, self._ms_since(started), active.model_id
            )
        calls: list[ModelCall] = []
        chain = self._chain(active, (ROLE_CANDIDATE, serving) if mode == MODE_CANARY else None)
        shadow = self._start_shadow(rollout.model_id, query, deadline, chain) if mode == MODE_SHADOW else None
        for position, (role, model_id) in enumerate(chain):
            if self._throttles.skipping(model_id):  # it throttled a moment ago: the next tier at once
                calls.append(ModelCall(model_id, role, SHED, detail="throttle window"))
                continue
            reserve = _reserve_ms(position, chain, deadline)
            decision, attempts = self._models.decide(model_id, role, query, deadline, reserve)
            calls.extend(attempts)
            self._throttles.record(model_id, (call.outcome for call in attempts))
            if role == ROLE_ACTIVE and active.origin in ("parameter", "stale") and _denied(attempts):
                # IAM refused the promoted model (a deployment this project did not tag): later
                # requests ask the default; this one goes on down the chain.
                self._active.refuse(model_id)
            if decision is not None:
                source = SOURCE_FALLBACK if role == ROLE_FALLBACK else SOURCE_MODEL
                break
        else:
            if tier0 is not None:
                decision, model_id, source = tier0.decision, tier0.model, SOURCE_LOCAL
            else:
                decision = heuristic_decision(query, self.settings.modalities)
                model_id, source = HEURISTIC_MODEL, SOURCE_HEURISTIC
        # Only the serving model's own answer is full quality and cached; anything else is a degraded stand-in.
        if source == SOURCE_MODEL:
            self.cache.put(key, model_id, decision)
        candidate = None
        if rollout is not None and mode == MODE_CANARY:
            candidate = canary_result(rollout.model_id, calls)
        elif rollout is not None and mode == MODE_SHADOW:
            served = decision if source == SOURCE_MODEL else None
            candidate = self._shadow.finish(shadow, rollout.model_id, served, deadline.remaining_ms())
        if candidate is not None and candidate.denied:
            self._active.refuse_candidate(candidate.model_id)  # IAM refused it: no rollout from now on
        return RouteResult(
            decision,
            model_id,
            source,
            source != SOURCE_MODEL,
            self._ms_since(started),
            active.model_id,
            tuple(calls),
            candidate,
        )

    def _chain(self, active: ActiveModel, first: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        chain = [first or (ROLE_ACTIVE, active.model_id)]
        fallback = self.settings.fallback_model_id
        if fallback and fallback != chain[0][1]:
            chain.append((ROLE_FALLBACK, fallback))
        return chain

    def _start_shadow(
        self, candidate: str, query: str, deadline: Deadline, chain: list[tuple[str, str]]
    ) -> ShadowCall | None:
        """Ask the candidate in parallel, with its own budget: the active call's, plus the slack."""
        budget_ms = deadline.remaining_ms() - _reserve_ms(0, chain, deadline) + self._shadow.slack_ms
        own = Deadline(deadline.clock(), max(budget_ms, 0.0), deadline.clock)
        return self._shadow.start(
            candidate, lambda: self._models.decide(candidate, ROLE_CANDIDATE, query, own, 0.0)
        )

    def _ms_since(self, started: float) -> float:
        return (self._clock() - started) * 1000.0


def _reserve_ms(position: int, chain: Sequence[tuple[str, str]], deadline: Deadline) -> float:
    """Time kept for the steps after the chain's `position`: the heuristic, and a share for a next model."""
    reserve = HEURISTIC_RESERVE_MS
    if position < len(chain) - 1:
        reserve += FALLBACK_SHARE * deadline.budget_ms
    return reserve


def _denied(calls: Sequence[ModelCall]) -> bool:
    return any(call.outcome == "rejected" and call.detail == "AccessDeniedException" for call in calls)


def build_router(
    settings: RouterSettings,
    *,
    on_parameter_error: Callable[[Exception], None] | None = None,
    on_model_refused: Callable[[str], None] | None = None,
    on_candidate_refused: Callable[[str], None] | None = None,
    on_local_model_error: Callable[[str, Exception], None] | None = None,
) -> Router:
    """The production wiring: real Bedrock and S3 clients (lazy), the SSM parameter through Powertools."""
    clients = ClientPool(max_pool_connections=max(10, settings.batch_concurrency * 2))
    cache: DecisionCache | LayeredCache = DecisionCache(
        max_entries=settings.cache_max_entries, ttl_seconds=settings.cache_ttl_seconds
    )
    if settings.shared_cache_table:
        from .shared_cache import LayeredCache, SharedDecisionTable

        # A table hit is answered as "cache" like an in-process hit; the telemetry counts the table's outcomes.
        cache = LayeredCache(cache, SharedDecisionTable.for_settings(settings))
    return Router(
        settings,
        models=ModelInvoker(settings, clients),
        active_model=ActiveModelSource.for_settings(
            settings,
            on_error=on_parameter_error,
            on_refused=on_model_refused,
            on_candidate_refused=on_candidate_refused,
        ),
        cache=cache,
        local=LocalTier(
            bucket=settings.local_model_bucket,
            modalities=settings.modalities,
            retry_after_seconds=settings.active_model_max_age_seconds,
            on_error=on_local_model_error,
        ),
    )
