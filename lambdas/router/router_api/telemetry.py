"""What the router tells CloudWatch: EMF metrics (Powertools) and one log line per request.

Metric names are a contract with the dashboard and alarms of the router API stack
(stacks/constructs/router_monitoring.py); a test holds both sides equal. Metrics are
recorded here, in the handler's thread, after the batch's threads are done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aws_lambda_powertools.metrics import MetricUnit
from routing.observability import logger, metrics

from .rollout import CandidateResult
from .service import ROLE_ACTIVE, SOURCE_CACHE, SOURCE_HEURISTIC, SOURCE_LOCAL, RouteResult
from .throttle_window import SHED

ROUTED_QUERIES = "RoutedQueries"
ROUTE_LATENCY = "RouteLatency"
MODEL_LATENCY = "ModelLatency"
CACHE_HITS = "CacheHits"
CACHE_MISSES = "CacheMisses"
FALLBACKS = "Fallbacks"
HEURISTIC_ANSWERS = "HeuristicAnswers"
PARSE_FAILURES = "ParseFailures"
MODEL_ERRORS = "ModelErrors"
MODEL_THROTTLES = "ModelThrottles"
ACTIVE_MODEL_READ_ERRORS = "ActiveModelReadErrors"
ACTIVE_MODEL_REFUSED = "ActiveModelRefused"
REJECTED_REQUESTS = "RejectedRequests"
INTERNAL_ERRORS = "InternalErrors"
SHARED_CACHE_HITS = "SharedCacheHits"
SHARED_CACHE_MISSES = "SharedCacheMisses"
SHARED_CACHE_TIMEOUTS = "SharedCacheTimeouts"
SHARED_CACHE_ERRORS = "SharedCacheErrors"
SHARED_CACHE_SKIPPED = "SharedCacheSkipped"
SHARED_CACHE_DROPPED_WRITES = "SharedCacheDroppedWrites"
# Rollout (router_api.rollout): the candidate's record beside the active model's.
ACTIVE_LATENCY = "ActiveLatency"
CANDIDATE_REQUESTS = "CandidateRequests"
CANDIDATE_FALLBACKS = "CandidateFallbacks"
CANDIDATE_PARSE_FAILURES = "CandidateParseFailures"
CANDIDATE_LATENCY = "CandidateLatency"
SHADOW_COMPARISONS = "ShadowComparisons"
SHADOW_DISAGREEMENTS = "ShadowDisagreements"
SHADOW_WEIGHT_DIFFERENCE = "ShadowWeightDifference"
LOCAL_ANSWERS = "LocalAnswers"
LOCAL_FALLBACKS = "LocalFallbacks"
LOCAL_MODEL_LOAD_ERRORS = "LocalModelLoadErrors"

METRIC_NAMES = (
    ROUTED_QUERIES, ROUTE_LATENCY, MODEL_LATENCY, CACHE_HITS, CACHE_MISSES, FALLBACKS,
    HEURISTIC_ANSWERS, PARSE_FAILURES, MODEL_ERRORS, MODEL_THROTTLES, ACTIVE_MODEL_READ_ERRORS, ACTIVE_MODEL_REFUSED,
    REJECTED_REQUESTS, INTERNAL_ERRORS, SHARED_CACHE_HITS, SHARED_CACHE_MISSES, SHARED_CACHE_TIMEOUTS,
    SHARED_CACHE_ERRORS, SHARED_CACHE_SKIPPED, SHARED_CACHE_DROPPED_WRITES,
    ACTIVE_LATENCY, CANDIDATE_REQUESTS, CANDIDATE_FALLBACKS, CANDIDATE_PARSE_FAILURES, CANDIDATE_LATENCY,
    SHADOW_COMPARISONS, SHADOW_DISAGREEMENTS, SHADOW_WEIGHT_DIFFERENCE,
    LOCAL_ANSWERS, LOCAL_FALLBACKS, LOCAL_MODEL_LOAD_ERRORS,
)  # fmt: skip
# SharedCacheCounts field -> its metric.
_SHARED_CACHE_METRICS = {
    "hits": SHARED_CACHE_HITS, "misses": SHARED_CACHE_MISSES, "timeouts": SHARED_CACHE_TIMEOUTS,
    "errors": SHARED_CACHE_ERRORS, "skipped": SHARED_CACHE_SKIPPED, "dropped_writes": SHARED_CACHE_DROPPED_WRITES,
}  # fmt: skip

# Outcomes of a model call that mean "the model answered" (its latency is the model's latency).
_ANSWERED = frozenset({"ok", "parse_failure"})
# Not a call: the model was skipped inside its throttle window (router_api.throttle_window).
_NOT_CALLED = frozenset({SHED})


def record_results(results: Sequence[RouteResult], *, cache_enabled: bool) -> None:
    """Metrics for every routed query, and one summary log line for the request."""
    degraded = 0
    for result in results:
        metrics.add_metric(name=ROUTED_QUERIES, unit=MetricUnit.Count, value=1)
        metrics.add_metric(name=ROUTE_LATENCY, unit=MetricUnit.Milliseconds, value=result.latency_ms)
        if cache_enabled:
            hit = result.source == SOURCE_CACHE
            metrics.add_metric(name=CACHE_HITS if hit else CACHE_MISSES, unit=MetricUnit.Count, value=1)
        # Degraded: the fallback model, tier-0 after the models failed, or the heuristic.
        if result.degraded:
            degraded += 1
            metrics.add_metric(name=FALLBACKS, unit=MetricUnit.Count, value=1)
        if result.source == SOURCE_LOCAL:
            name = LOCAL_FALLBACKS if result.degraded else LOCAL_ANSWERS
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if result.source == SOURCE_HEURISTIC:
            metrics.add_metric(name=HEURISTIC_ANSWERS, unit=MetricUnit.Count, value=1)
        for call in result.calls:
            if call.outcome in _ANSWERED:
                metrics.add_metric(name=MODEL_LATENCY, unit=MetricUnit.Milliseconds, value=call.latency_ms)
                if call.role == ROLE_ACTIVE:
                    metrics.add_metric(
                        name=ACTIVE_LATENCY, unit=MetricUnit.Milliseconds, value=call.latency_ms
                    )
            if call.outcome == "parse_failure":
                metrics.add_metric(name=PARSE_FAILURES, unit=MetricUnit.Count, value=1)
            elif call.outcome == "throttled":
                metrics.add_metric(name=MODEL_THROTTLES, unit=MetricUnit.Count, value=1)
            if call.outcome not in _ANSWERED and call.outcome not in _NOT_CALLED:
                metrics.add_metric(name=MODEL_ERRORS, unit=MetricUnit.Count, value=1)
        if result.candidate is not None:
            _record_candidate(result.candidate)
    failures = [
        {"model_id": call.model_id, "role": call.role, "outcome": call.outcome, "detail": call.detail,
         "latency_ms": round(call.latency_ms, 1)}
        for result in results for call in result.calls if call.outcome != "ok"
    ]  # fmt: skip
    summary = {
        "queries": len(results),
        "active_model": results[0].active_model if results else None,
        "sources": dict(Counter(result.source for result in results)),
        "degraded": degraded,
        "latency_ms": round(max((result.latency_ms for result in results), default=0.0), 3),
    }
    rollout = _rollout_summary([result.candidate for result in results if result.candidate is not None])
    if rollout:
        summary["rollout"] = rollout
    if failures:
        logger.warning("routed with model failures", extra={**summary, "failures": failures[:50]})
    else:
        # Healthy requests are in the API's access log already; one more line per query at
        # hundreds of queries per second is mostly CloudWatch Logs cost. POWERTOOLS_LOG_LEVEL=DEBUG shows them.
        logger.debug("routed", extra=summary)


def record_shared_cache(cache: object) -> None:
    """The shared table's outcomes since the last request (nothing when the router has no shared cache).

    Counted by the table itself (a timed-out read or a failed background write is in no RouteResult);
    a container serves one invocation at a time, so a drain per request attributes them to it.
    """
    shared = getattr(cache, "shared", None)  # a LayeredCache (imported only when configured)
    if shared is None:
        return
    counts = shared.drain_counts()
    for field, name in _SHARED_CACHE_METRICS.items():
        value = getattr(counts, field)
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _record_candidate(candidate: CandidateResult) -> None:
    if not candidate.asked:  # shadow with every slot taken: the candidate was not asked
        return
    metrics.add_metric(name=CANDIDATE_REQUESTS, unit=MetricUnit.Count, value=1)
    if candidate.fallback:
        metrics.add_metric(name=CANDIDATE_FALLBACKS, unit=MetricUnit.Count, value=1)
    if candidate.outcome == "parse_failure":
        metrics.add_metric(name=CANDIDATE_PARSE_FAILURES, unit=MetricUnit.Count, value=1)
    if candidate.latency_ms is not None:
        metrics.add_metric(name=CANDIDATE_LATENCY, unit=MetricUnit.Milliseconds, value=candidate.latency_ms)
    if candidate.compared:
        metrics.add_metric(name=SHADOW_COMPARISONS, unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name=SHADOW_DISAGREEMENTS, unit=MetricUnit.Count, value=1 if candidate.disagreed else 0
        )
        metrics.add_metric(
            name=SHADOW_WEIGHT_DIFFERENCE, unit=MetricUnit.NoUnit, value=candidate.weight_difference
        )


def _rollout_summary(candidates: Sequence[CandidateResult]) -> dict[str, object] | None:
    """The rollout facts of a request for its summary line: the candidate, and what it did."""
    if not candidates:
        return None
    outcomes = Counter(candidate.outcome for candidate in candidates)
    return {
        "mode": candidates[0].mode,
        "candidate": candidates[0].model_id[:300],
        "queries": len(candidates),
        "outcomes": dict(outcomes),
        "fallbacks": sum(candidate.fallback for candidate in candidates),
        "compared": sum(candidate.compared for candidate in candidates),
        "disagreed": sum(bool(candidate.disagreed) for candidate in candidates),
    }


def record_rejection(status: int, reason: str) -> None:
    """A request refused with a 4xx before any routing (bad body, wrong path or method)."""
    metrics.add_metric(name=REJECTED_REQUESTS, unit=MetricUnit.Count, value=1)
    logger.info("request refused", extra={"status": status, "reason": reason})


def record_internal_error() -> None:
    """The router raised (a bug): the caller gets a 500 and the 5xx alarm fires."""
    metrics.add_metric(name=INTERNAL_ERRORS, unit=MetricUnit.Count, value=1)
    logger.exception("router failed")


def record_parameter_error(error: Exception) -> None:
    """The active-model parameter could not be read: the router serves the last known or default model."""
    metrics.add_metric(name=ACTIVE_MODEL_READ_ERRORS, unit=MetricUnit.Count, value=1)
    logger.warning("active-model parameter unreadable; serving the last known or default model",
                   extra={"error": f"{type(error).__name__}: {error}"})  # fmt: skip


def record_candidate_refused(model_id: str) -> None:
    """The rollout names a candidate this deployment may not serve (or IAM denied it): no rollout."""
    metrics.add_metric(name=ACTIVE_MODEL_REFUSED, unit=MetricUnit.Count, value=1)
    logger.warning("active-model parameter's rollout names a candidate this router may not serve; no rollout",
                   extra={"refused_model_id": model_id[:300]})  # fmt: skip


def record_model_refused(model_id: str) -> None:
    """The parameter names a model this deployment may not serve: the router serves the default instead."""
    metrics.add_metric(name=ACTIVE_MODEL_REFUSED, unit=MetricUnit.Count, value=1)
    logger.warning("active-model parameter names a model this router may not serve; serving the default",
                   extra={"refused_model_id": model_id[:300]})  # fmt: skip


def record_local_model_error(s3_uri: str, error: Exception) -> None:
    """The active value's tier-0 model could not be loaded: the router routes without it until a retry."""
    metrics.add_metric(name=LOCAL_MODEL_LOAD_ERRORS, unit=MetricUnit.Count, value=1)
    logger.warning("tier-0 model not loaded; routing without it until the next try",
                   extra={"s3_uri": s3_uri, "error": f"{type(error).__name__}: {str(error)[:300]}"})  # fmt: skip
