"""The inputs of the capacity model (`cdk_app.operator.capacity`) from the configuration, a query file,
the account's Service Quotas and a run's report; and the recommendations read from a result.

- `base_scenario`: the router's settings of cdk.json (cache TTL and size, the shared cache and its TTL,
  maxTokens), the token sizes
  of `vsr cost` (`cost.CostAssumptions`), the configured prices of the active model (the distilled
  model, priced as its student) and of the fallback model;
- `query_mix`: the repeat distribution of a held-out JSONL (`query` field) or of Bedrock model
  invocation log records (the last user turn of a Converse request), by normalised query, as the
  router's cache keys them;
- `deployed_quotas`: the active and fallback models' requests and tokens per minute from Service
  Quotas (the quota names of `vsr doctor`); `quota_bound`: the calls a second a quota lets through;
- `recommend`: which settings or assumptions would reach the goals, as sentences (estimates from the
  result; each says how to check it with another run).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from routing import normalise_query
from routing.evaluation.report import MAX_TOKENS_MARGIN
from routing.model_ids import foundation_model_of, on_demand_model_id
from routing.pipeline.planning import foundation_model_id

from cdk_app.config import AppConfig
from cdk_app.operator import capacity
from cdk_app.operator.cost import DEFAULT_ASSUMPTIONS
from cdk_app.operator.errors import OperatorError


def base_scenario(config: AppConfig, rate: float, **changes: Any) -> capacity.Scenario:
    """The deployment's scenario at `rate` (changes: any `Scenario` field)."""
    active = config.price_for(config.student_model_id)
    fallback = config.price_for(config.router_fallback_model_id)
    defaults: dict[str, Any] = {
        "rate": rate,
        "cache_ttl_s": float(config.router_cache_ttl_seconds),
        "cache_max_entries": config.router_cache_max_entries,
        # The deployed table: on or off as configured, its items living `router_shared_cache.ttl_seconds`.
        "shared_cache": config.router_shared_cache.enabled,
        "shared_ttl_s": float(config.router_shared_cache.ttl_seconds),
        "max_tokens": config.router_max_tokens,
        "input_tokens": DEFAULT_ASSUMPTIONS.routing_input_tokens(),
        "output_tokens": DEFAULT_ASSUMPTIONS.answer_tokens(len(config.modalities)),
        "model_pricing": capacity.ModelPricing(
            (active.input_per_1m, active.output_per_1m) if active else None,
            (fallback.input_per_1m, fallback.output_per_1m) if fallback else None,
        ),
    }
    if config.router_fallback_model_id == config.student_model_id:
        defaults["fallback_quota"] = None
    return capacity.Scenario(**{**defaults, **changes})


# --------------------------------------------------------------------------- quota-bound capacity


@dataclass(frozen=True)
class QuotaBound:
    """The queries per second a model's quota lets through, by each of its limits."""

    requests_per_s: float  # requests per minute / 60
    reserved_per_s: float  # tokens per minute / 60 / (input + maxTokens): every reservation held a minute
    settled_per_s: float  # tokens per minute / 60 / (input + output): Bedrock's settlement at the call's end

    @property
    def binding(self) -> str:
        return "requests" if self.requests_per_s <= self.reserved_per_s else "tokens"

    @property
    def per_s(self) -> float:
        return min(self.requests_per_s, self.reserved_per_s)


def quota_bound(quota: capacity.Quota, input_tokens: int, max_tokens: int, output_tokens: int) -> QuotaBound:
    """The quota-bound capacity; `per_s` takes the reservation (input + maxTokens) as spent (the lower bound)."""
    return QuotaBound(
        quota.requests_per_second(),
        quota.tokens_bound_per_second(input_tokens + max_tokens),
        quota.tokens_bound_per_second(input_tokens + output_tokens),
    )


# --------------------------------------------------------------------------- query files


def _logged_query(record: Mapping[str, Any]) -> str | None:
    """The query of a Bedrock model invocation log record: the last user turn's text (Converse)."""
    body = (record.get("input") or {}).get("inputBodyJson") or {}
    messages = body.get("messages") if isinstance(body, Mapping) else None
    for message in reversed(messages or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            texts = [part.get("text") for part in message.get("content") or [] if isinstance(part, Mapping)]
            text = " ".join(t for t in texts if isinstance(t, str))
            return text or None
    return None


def query_mix(texts: Iterable[tuple[str, str]]) -> capacity.QueryMix:
    """The repeat distribution of JSONL texts ((where, text) pairs); `OperatorError` names a bad line."""
    counts: Counter[str] = Counter()
    names = []
    for where, text in texts:
        names.append(where)
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OperatorError(f"{where} line {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise OperatorError(f"{where} line {number}: not a JSON object")
            query = record.get("query") if isinstance(record.get("query"), str) else _logged_query(record)
            if not query or not query.strip():
                raise OperatorError(
                    f"{where} line {number}: no `query` field and no user turn of a model invocation log record"
                )
            counts[normalise_query(query)] += 1
    if not counts:
        raise OperatorError(f"{', '.join(names) or 'the query file'}: no queries")
    source = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    return capacity.QueryMix(weights=tuple(count for _, count in counts.most_common()), source=source)


# --------------------------------------------------------------------------- quotas


def deployed_quotas(
    config: AppConfig, active_model_id: str, bedrock: Any, quotas_client: Any
) -> tuple[capacity.Quota | None, capacity.Quota | None]:
    """(active, fallback) quotas from Service Quotas, None for a model whose quotas are not listed.

    A custom model deployment (the promoted distilled model) is read as its student's on-demand quota."""
    from cdk_app.operator.doctor import bedrock_quotas, model_quota

    listed = bedrock_quotas(quotas_client)
    found: list[capacity.Quota | None] = []
    for model_id in (active_model_id, config.router_fallback_model_id):
        if "custom-model-deployment/" in model_id:
            model_id = on_demand_model_id(foundation_model_of(model_id, config.student_model_id))
        base = foundation_model_id(model_id)
        if base is None:
            found.append(None)
            continue
        details = bedrock.get_foundation_model(modelIdentifier=base)["modelDetails"]
        quota = model_quota(listed, model_id, details)
        found.append(capacity.Quota(*quota, f"Service Quotas ({model_id})") if quota else None)
    return found[0], found[1]


# --------------------------------------------------------------------------- a run's report


def recommended_max_tokens(report: Mapping[str, Any]) -> tuple[int | None, str]:
    """(recommended maxTokens, where it came from) of a report.json; None when it has none."""
    value = report.get("recommended_max_tokens")
    if isinstance(value, int):
        return (
            value,
            f"run {report.get('run_id')}: p99 output tokens of the distilled model x {MAX_TOKENS_MARGIN:g}",
        )
    return None, f"run {report.get('run_id')} has no recommended_max_tokens (a report of an older version)"


def confident_share_of(report: Mapping[str, Any]) -> float | None:
    """The share of held-out queries a report's tier-0 model answers confidently (its report half), if calibrated."""
    section = report.get("local_model")
    if not isinstance(section, Mapping) or section.get("threshold") is None:
        return None
    share = section.get("confident_share")
    return float(share) if isinstance(share, int | float) and not isinstance(share, bool) else None


def output_tokens_of(report: Mapping[str, Any]) -> int | None:
    """Mean output tokens per successful call of the distilled model in a report, if measured."""
    for model in report.get("models") or []:
        if model.get("candidate") == "distilled":
            calls = model.get("answers", 0) - model.get("errors", 0)
            output = (model.get("tokens") or {}).get("output")
            if calls > 0 and isinstance(output, int) and output > 0:
                return math.ceil(output / calls)
    return None


# --------------------------------------------------------------------------- recommendations


def recommend(
    result: capacity.Result, max_tokens_hint: int | None = None, rerun: Callable[..., str] | None = None
) -> list[str]:
    """Which settings or assumptions would reach the goals: estimates from the result, as sentences.

    `rerun(**changes)` renders the command that checks an estimate (a `vsr capacity` line)."""
    s = result.scenario
    n = result.queries
    if not n:
        return []
    show = rerun or (lambda **changes: ", ".join(f"{k}={v}" for k, v in changes.items()))
    lines: list[str] = []
    answered = result.answered_share
    cached = result.counts.get(capacity.CACHE, 0) + result.counts.get(capacity.SHARED_CACHE, 0)
    model = result.counts.get(capacity.MODEL, 0)
    confident = result.counts.get(capacity.TIER0_CONFIDENT, 0)
    misses = n - cached  # the queries that reached tier-0 or the model
    if result.meets_goals:
        lines.append(
            f"Meets the goals at {s.rate:g} q/s: {answered:.1%} answered (goal {capacity.GOAL_ANSWERED:.0%}), "
            f"{result.heuristic_share:.1%} heuristic only (goal at most {capacity.GOAL_HEURISTIC:.0%})."
        )
    else:
        lines.append(
            f"Does NOT meet the goals at {s.rate:g} q/s: {answered:.1%} answered (goal {capacity.GOAL_ANSWERED:.0%}), "
            f"{result.heuristic_share:.1%} heuristic only (goal at most {capacity.GOAL_HEURISTIC:.0%})."
        )
    if result.heuristic_share > capacity.GOAL_HEURISTIC and not s.tier0:
        lines.append(
            "Turn tier-0 on: throttled queries then get its local answer instead of the heuristic's "
            f"({show(tier0=True)})."
        )
    if not s.shared_cache and answered < capacity.GOAL_ANSWERED:
        lines.append(
            "Turn the shared cache on: every container then answers what any container's model call answered "
            f"({show(shared_cache=True)})."
        )
    gap = math.ceil(capacity.GOAL_ANSWERED * n) - (cached + model + confident)
    if gap > 0 and misses > 0:
        share = s.tier0_confident_share if s.tier0 else 0.0
        needed_share = (confident + gap) / misses
        if needed_share <= 1:
            lines.append(
                f"Tier-0 would have to answer {needed_share:.0%} of the cache misses confidently "
                f"(assumed {share:.0%}; measure it on a held-out set) for {capacity.GOAL_ANSWERED:.0%} "
                f"({show(tier0=True, tier0_confident_share=round(min(1.0, needed_share + 0.01), 2))})."
            )
        else:
            lines.append(
                "Tier-0 alone cannot reach the goal: fewer queries miss the caches than the goal needs."
            )
        rpm = math.ceil((model + gap) / s.duration_s * 60)
        per_call = s.input_tokens + (s.output_tokens if s.settlement == "end" else s.max_tokens)
        tokens = max(math.ceil(s.active_quota.tokens_per_minute), rpm * per_call)
        lines.append(
            f"Or a model quota of about {rpm:,} requests and {tokens:,} tokens per minute (now "
            f"{s.active_quota.requests_per_minute:,.0f} and {s.active_quota.tokens_per_minute:,.0f}; a quota "
            f"increase in Service Quotas) ({show(rpm=rpm, tpm=tokens)})."
        )
    tokens_throttled = result.throttled.get("active", {}).get("tokens", 0)
    if tokens_throttled:
        target = max_tokens_hint or max(64, s.max_tokens // 2)
        lines.append(
            f"{tokens_throttled:,} calls were refused for tokens per minute: a smaller maxTokens reserves less "
            f"(router_max_tokens {s.max_tokens} -> {target}{', the run report recommends it' if max_tokens_hint else ''}) "
            f"({show(max_tokens=target)})."
        )
    elif max_tokens_hint and max_tokens_hint < s.max_tokens:
        lines.append(
            f"The run report recommends maxTokens {max_tokens_hint} (now {s.max_tokens}): no call here was refused "
            "for tokens, but each call reserves less of the token quota."
        )
    longest = max(s.cache_ttl_s, s.shared_ttl_s if s.shared_cache else 0.0)
    if s.shared_cache and answered < capacity.GOAL_ANSWERED and longest <= capacity.MAX_WARMUP_S:
        longer = int(min(capacity.MAX_WARMUP_S, s.shared_ttl_s * 2))
        if longer > s.shared_ttl_s:
            lines.append(
                f"A longer shared-cache TTL keeps more of the head answered ({show(shared_ttl_s=longer)}); the "
                f"simulation's warm-up caps what it can show at {capacity.MAX_WARMUP_S:g} s."
            )
    return lines


def with_quota(scenario: capacity.Scenario, *, rpm: float | None, tpm: float | None) -> capacity.Scenario:
    """The scenario with the active model's quota changed where given."""
    if rpm is None and tpm is None:
        return scenario
    quota = scenario.active_quota
    return replace(
        scenario,
        active_quota=capacity.Quota(
            quota.requests_per_minute if rpm is None else rpm,
            quota.tokens_per_minute if tpm is None else tpm,
            "given",
        ),
    )
