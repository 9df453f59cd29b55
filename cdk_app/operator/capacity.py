"""Capacity model of the deployed router (`vsr capacity`, `make bench`): a seeded discrete-event simulation.

What it answers: at a request rate, with the account's model quotas, which share of the queries is
answered by which tier (in-process cache, shared cache, model, fallback model, tier-0 confident,
tier-0 local fallback, heuristic), at what latency and at what cost per 1M queries, and which
settings would reach the goals (`GOAL_ANSWERED`, `GOAL_HEURISTIC`).

The shape it simulates (docs/capacity.md has the assumptions and their sources):

- Poisson arrivals at `rate` for `warmup_s` (not counted: caches fill, the quota buckets drain) and
  then `duration_s` (counted); each query drawn from `QueryMix` (a Zipf head plus unique queries,
  or a file's empirical distribution);
- Lambda containers: the fleet is what Little's law gives (the rate x the mean time per request,
  a moving average over about a second of requests), or `containers`; each request goes to one of
  them at random (a new one starts cold), and each has its own in-process cache (TTL, LRU size),
  as the router's `DecisionCache`;
- the tiers in the router's order: in-process cache -> shared cache (optional) -> tier-0 confident
  (optional) -> active model -> fallback model -> tier-0 local fallback (optional) -> heuristic.
  Only active-model answers are cached (as the router does); an answer is in a cache once its
  call has ended (identical queries in flight all miss: the router does not coalesce);
- each model's quota as two token buckets (requests and tokens), refilled continuously and holding
  `bucket_seconds` of quota. A call is admitted when one request and input + maxTokens tokens are
  available (Bedrock reserves them at the start); at its end the unused part of the reservation is
  returned (`settlement="end"`, Bedrock's documented adjustment) or kept (`"none"`, a worst case).
  A throttled call costs a short round trip and is not retried on the same model (the router's
  policy: the fallback model answers sooner);
- latencies per tier as seeded lognormals (`Latencies`).

Pure Python and the standard library: one loop over the requests, no threads; 1,000 q/s for a
simulated minute plus a five-minute warm-up runs in a few seconds.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from routing.evaluation.intervals import percentile

# The tiers, in the order the router tries them; `ANSWERED` is what the goal counts.
CACHE = "cache"
SHARED_CACHE = "shared_cache"
TIER0_CONFIDENT = "tier0_confident"
MODEL = "model"
FALLBACK_MODEL = "fallback_model"
TIER0_FALLBACK = "tier0_fallback"
HEURISTIC = "heuristic"
TIERS = (CACHE, SHARED_CACHE, TIER0_CONFIDENT, MODEL, FALLBACK_MODEL, TIER0_FALLBACK, HEURISTIC)
TIER_LABELS = {
    CACHE: "in-process cache",
    SHARED_CACHE: "shared cache",
    TIER0_CONFIDENT: "tier-0 confident",
    MODEL: "model",
    FALLBACK_MODEL: "fallback model",
    TIER0_FALLBACK: "tier-0 local fallback",
    HEURISTIC: "heuristic",
}
# A full-quality answer: a cache (of model answers), the model, or a confident tier-0 answer. The
# fallback model's and tier-0's throttled answers are degraded stand-ins (the router flags them).
ANSWERED = (CACHE, SHARED_CACHE, TIER0_CONFIDENT, MODEL)
GOAL_ANSWERED = 0.95
GOAL_HEURISTIC = 0.05
# Warm-up: at least the quota buckets' window, at most this (a longer cache TTL is then not at
# steady state, and the output says so).
MAX_WARMUP_S = 300.0
# The Zipf head is built as a list of cumulative weights: more ranks than the requests a scenario may
# simulate (5,000,000) show no more repeats, only take memory.
MAX_HEAD_SIZE = 5_000_000

Settlement = Literal["end", "none"]


@dataclass(frozen=True)
class Lognormal:
    """A latency in milliseconds: median x exp(sigma x N(0, 1))."""

    median_ms: float
    sigma: float

    def draw(self, rng: random.Random) -> float:
        return self.median_ms * math.exp(self.sigma * rng.gauss(0.0, 1.0))


@dataclass(frozen=True)
class Latencies:
    """Time inside the router Lambda per step (what Lambda bills; API Gateway and the network not counted).

    Defaults: the cache hit and router overhead from `make bench` (docs/router-api.md, Performance:
    p99 below 1 ms); a model call 0.85 s median (issue 17); a DynamoDB GetItem a few ms (the shared
    cache's read budget); a ThrottlingException round trip ~25 ms; a cold start's init ~0.5 s.
    Sigmas are assumptions (lognormal tails: sigma 0.35 puts p99 at 2.3x the median)."""

    cache: Lognormal = Lognormal(0.3, 0.4)
    shared_cache: Lognormal = Lognormal(4.0, 0.4)
    tier0: Lognormal = Lognormal(0.1, 0.3)
    model: Lognormal = Lognormal(850.0, 0.35)
    fallback_model: Lognormal = Lognormal(700.0, 0.35)
    throttled: Lognormal = Lognormal(25.0, 0.5)
    heuristic: Lognormal = Lognormal(0.1, 0.3)
    cold_start: Lognormal = Lognormal(500.0, 0.3)


@dataclass(frozen=True)
class Quota:
    """A model's on-demand quota: requests and tokens per minute, and where the figures came from."""

    requests_per_minute: float
    tokens_per_minute: float
    source: str = "default"

    def requests_per_second(self) -> float:
        return self.requests_per_minute / 60.0

    def tokens_bound_per_second(self, tokens_per_call: float) -> float:
        return self.tokens_per_minute / 60.0 / tokens_per_call if tokens_per_call > 0 else math.inf


# Defaults when the deployment's quotas cannot be read (docs/capacity.md): Nova Micro on demand
# about 1,000 requests and 2M tokens per minute in us-east-1 (the active model: the distilled Nova
# Micro); through a cross-region profile (the fallback, us.amazon.nova-micro-v1:0) about 2,000
# requests per minute (tokens assumed to scale the same way).
DEFAULT_ACTIVE_QUOTA = Quota(1_000, 2_000_000, "default (Nova Micro on demand, us-east-1)")
DEFAULT_FALLBACK_QUOTA = Quota(2_000, 4_000_000, "default (Nova Micro cross-region, assumed)")


@dataclass(frozen=True)
class QueryMix:
    """How queries repeat: `head_share` of the traffic from a Zipf head of `head_size` distinct queries
    (rank r drawn with weight r^-exponent), the rest unique; or `weights`: a file's distinct queries
    with their counts (sampled with replacement; `source` names the file)."""

    head_share: float = 0.6
    head_size: int = 200_000
    exponent: float = 1.0
    weights: tuple[int, ...] | None = None
    source: str = "Zipf default"

    def describe(self) -> str:
        if self.weights is not None:
            return (
                f"{self.source}: {len(self.weights):,} distinct queries, {sum(self.weights):,} lines, sampled"
            )
        return (f"{self.head_share:.0%} from a Zipf head of {self.head_size:,} distinct queries "
                f"(exponent {self.exponent:g}), {1 - self.head_share:.0%} unique")  # fmt: skip


@dataclass(frozen=True)
class Prices:
    """USD prices of what a routed query uses besides model tokens (us-east-1, on demand, no free tier).

    Lambda: $0.20 per 1M requests and $0.0000133334 per GB-second on Arm (aws.amazon.com/lambda/pricing;
    the router runs on arm64 with `memory_mb`). API Gateway REST API: $3.50 per 1M requests (first
    333M a month; "How AWS Pricing Works", API Gateway). DynamoDB on demand: $0.125 per 1M read
    request units and $0.625 per 1M write request units (aws.amazon.com/dynamodb/pricing/on-demand;
    an eventually consistent GetItem of an item up to 4 KB is half a read unit, a PutItem up to 1 KB one
    write unit)."""

    lambda_per_1m_requests: float = 0.20
    lambda_per_gb_second: float = 0.0000133334
    memory_mb: int = 1024
    api_gateway_per_1m_requests: float = 3.50
    dynamodb_per_1m_rru: float = 0.125
    dynamodb_per_1m_wru: float = 0.625
    rru_per_read: float = 0.5
    wru_per_write: float = 1.0


@dataclass(frozen=True)
class ModelPricing:
    """USD per 1M input / output tokens of the active and the fallback model (None: no price)."""

    active: tuple[float, float] | None
    fallback: tuple[float, float] | None


@dataclass(frozen=True)
class Scenario:
    """Every input of one simulation."""

    rate: float
    mix: QueryMix = QueryMix()
    duration_s: float = 60.0
    warmup_s: float | None = None  # None: the buckets' window, or the longest cache TTL up to MAX_WARMUP_S
    cache_ttl_s: float = 300.0
    cache_max_entries: int = 10_000
    shared_cache: bool = False
    shared_ttl_s: float = 300.0
    tier0: bool = False
    tier0_confident_share: float = 0.5
    containers: int | None = None  # a fixed fleet; None: Little's law
    active_quota: Quota = DEFAULT_ACTIVE_QUOTA
    fallback_quota: Quota | None = DEFAULT_FALLBACK_QUOTA
    input_tokens: int = 42
    output_tokens: int = 69
    max_tokens: int = 256
    bucket_seconds: float = 60.0
    settlement: Settlement = "end"
    latencies: Latencies = Latencies()
    prices: Prices = Prices()
    model_pricing: ModelPricing = ModelPricing((0.035, 0.14), (0.035, 0.14))
    seed: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.rate <= 100_000:
            problems.append(f"rate must be between 0 and 100,000 queries per second, got {self.rate:g}")
        if not 1 <= self.duration_s <= 3_600:
            problems.append(f"duration must be between 1 and 3,600 s, got {self.duration_s:g}")
        if self.warmup_s is not None and not 0 <= self.warmup_s <= 3_600:
            problems.append(f"warm-up must be between 0 and 3,600 s, got {self.warmup_s:g}")
        # Every range check is written so that NaN fails it (NaN compares false with everything).
        mix = self.mix
        if not (
            0 <= mix.head_share <= 1 and 1 <= mix.head_size <= MAX_HEAD_SIZE and 0 <= mix.exponent < math.inf
        ):
            problems.append(
                f"the query mix needs a head share in [0, 1], a head size from 1 to {MAX_HEAD_SIZE:,} "
                "and a finite exponent >= 0"
            )
        if not (0 <= self.cache_ttl_s < math.inf and 0 <= self.shared_ttl_s < math.inf):
            problems.append(
                f"cache TTLs must be finite and >= 0, got {self.cache_ttl_s:g} and {self.shared_ttl_s:g} s"
            )
        if not 0 <= self.tier0_confident_share <= 1:
            problems.append(
                f"the tier-0 confident share must be in [0, 1], got {self.tier0_confident_share:g}"
            )
        for name, quota in (("active", self.active_quota), ("fallback", self.fallback_quota)):
            if quota is not None and not (
                0 <= quota.requests_per_minute < math.inf and 0 <= quota.tokens_per_minute < math.inf
            ):
                problems.append(f"the {name} model's quota must be finite and >= 0")
        if self.max_tokens < 1 or self.input_tokens < 0 or self.output_tokens < 0:
            problems.append("max tokens must be >= 1, input and output tokens >= 0")
        if self.bucket_seconds <= 0:
            problems.append("the quota bucket must hold more than 0 seconds of quota")
        if self.containers is not None and not 1 <= self.containers <= 100_000:
            problems.append(f"containers must be between 1 and 100,000, got {self.containers}")
        if self.rate * (self.duration_s + self.effective_warmup_s) > 5_000_000:
            problems.append("more than 5,000,000 simulated requests: shorten the duration or the warm-up")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def effective_warmup_s(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        ttls = [self.cache_ttl_s if self.cache_max_entries > 0 else 0.0]
        if self.shared_cache:
            ttls.append(self.shared_ttl_s)
        return max(min(self.bucket_seconds, MAX_WARMUP_S), min(max(ttls), MAX_WARMUP_S))


@dataclass(frozen=True)
class Cost:
    """USD per 1M routed queries, by what bills (None for Bedrock when a model has no price)."""

    bedrock: float | None
    lambda_: float
    api_gateway: float
    dynamodb: float

    @property
    def total(self) -> float | None:
        if self.bedrock is None:
            return None
        return self.bedrock + self.lambda_ + self.api_gateway + self.dynamodb


@dataclass(frozen=True)
class Result:
    """What one simulation measured over its counted window."""

    scenario: Scenario
    queries: int
    counts: dict[str, int]
    latency_p50_ms: float
    latency_p99_ms: float
    containers: int
    mean_concurrency: float
    throttled: dict[str, dict[str, int]]
    calls: dict[str, int]
    cost: Cost
    notes: list[str] = field(default_factory=list)

    def share(self, tier: str) -> float:
        return self.counts.get(tier, 0) / self.queries if self.queries else 0.0

    @property
    def shares(self) -> dict[str, float]:
        return {tier: self.share(tier) for tier in TIERS}

    @property
    def answered_share(self) -> float:
        return sum(self.share(tier) for tier in ANSWERED)

    @property
    def heuristic_share(self) -> float:
        return self.share(HEURISTIC)

    @property
    def meets_goals(self) -> bool:
        return self.answered_share >= GOAL_ANSWERED and self.heuristic_share <= GOAL_HEURISTIC

    def to_dict(self) -> dict[str, Any]:
        scenario = asdict(self.scenario)
        if self.scenario.mix.weights is not None:
            scenario["mix"]["weights"] = f"{len(self.scenario.mix.weights)} distinct queries"
        return {
            "scenario": scenario,
            "queries": self.queries,
            "shares": {tier: round(value, 6) for tier, value in self.shares.items()},
            "counts": {tier: self.counts.get(tier, 0) for tier in TIERS},
            "answered_share": round(self.answered_share, 6),
            "heuristic_share": round(self.heuristic_share, 6),
            "goals": {"answered": GOAL_ANSWERED, "heuristic": GOAL_HEURISTIC, "met": self.meets_goals},
            "latency_ms": {"p50": round(self.latency_p50_ms, 3), "p99": round(self.latency_p99_ms, 3)},
            "containers": self.containers,
            "mean_concurrency": round(self.mean_concurrency, 2),
            "throttled": self.throttled,
            "calls": self.calls,
            "cost_per_1m_queries_usd": {
                "bedrock": _round(self.cost.bedrock),
                "lambda": round(self.cost.lambda_, 4),
                "api_gateway": round(self.cost.api_gateway, 4),
                "dynamodb": round(self.cost.dynamodb, 4),
                "total": _round(self.cost.total),
            },
            "notes": list(self.notes),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# --------------------------------------------------------------------------- the simulation


class _Bucket:
    """One model's requests and tokens per minute as two token buckets refilled continuously."""

    def __init__(self, quota: Quota, bucket_seconds: float, settlement: Settlement) -> None:
        self.request_rate = quota.requests_per_minute / 60.0
        self.token_rate = quota.tokens_per_minute / 60.0
        self.request_cap = self.request_rate * bucket_seconds
        self.token_cap = self.token_rate * bucket_seconds
        # Empty at the start: a full bucket would let the warm-up's first seconds through at any rate and
        # size the fleet for that burst. The warm-up lasts at least `bucket_seconds`, after which the
        # level no longer depends on where it started.
        self.requests = self.tokens = 0.0
        self.last = 0.0
        self.settles = settlement == "end"
        self._refunds: list[tuple[float, float]] = []

    def _refill(self, now: float) -> None:
        refunds = self._refunds
        while refunds and refunds[0][0] <= now:
            at, tokens = heapq.heappop(refunds)
            self._advance(at)
            self.tokens = min(self.token_cap, self.tokens + tokens)
        self._advance(now)

    def _advance(self, now: float) -> None:
        elapsed = now - self.last
        if elapsed > 0:
            self.requests = min(self.request_cap, self.requests + elapsed * self.request_rate)
            self.tokens = min(self.token_cap, self.tokens + elapsed * self.token_rate)
            self.last = now

    def admit(self, now: float, reserve: float) -> str | None:
        """None when the call is admitted (its reservation taken), else which quota throttled it."""
        self._refill(now)
        if self.requests < 1.0:
            return "requests"
        if self.tokens < reserve:
            return "tokens"
        self.requests -= 1.0
        self.tokens -= reserve
        return None

    def settle(self, at: float, unused: float) -> None:
        if self.settles and unused > 0:
            heapq.heappush(self._refunds, (at, unused))


def _sampler(mix: QueryMix, rng: random.Random) -> tuple[Any, int]:
    """(draw() -> query key, number of distinct keys below which keys repeat); unique keys count up after it."""
    if mix.weights is not None:
        cumulative = list(itertools.accumulate(mix.weights))
        total = cumulative[-1]
        return (lambda: bisect.bisect_right(cumulative, rng.random() * total)), len(cumulative)
    cumulative = list(itertools.accumulate(rank**-mix.exponent for rank in range(1, mix.head_size + 1)))
    total = cumulative[-1]
    head_share = mix.head_share
    unique = itertools.count(mix.head_size)

    def draw() -> int:
        if rng.random() < head_share:
            return bisect.bisect_right(cumulative, rng.random() * total)
        return next(unique)

    return draw, mix.head_size


def _confident(key: int, share: float, salt: int) -> bool:
    """Whether tier-0 is confident on a query: a fixed property of the query (a multiplicative hash)."""
    return ((key + salt) * 2654435761 % 4294967296) < share * 4294967296


def simulate(scenario: Scenario) -> Result:
    """Run one scenario (deterministic for its seed); see the module docstring for the model."""
    s = scenario
    rng = random.Random(s.seed)
    draw, _distinct = _sampler(s.mix, random.Random(s.seed * 7919 + 1))
    lat = s.latencies
    warmup = s.effective_warmup_s
    end = warmup + s.duration_s
    cache_on = s.cache_max_entries > 0 and s.cache_ttl_s > 0
    reserve = s.input_tokens + s.max_tokens
    unused = max(0, s.max_tokens - s.output_tokens)
    active = _Bucket(s.active_quota, s.bucket_seconds, s.settlement)
    fallback = _Bucket(s.fallback_quota, s.bucket_seconds, s.settlement) if s.fallback_quota else None
    salt = s.seed * 104729

    caches: list[dict[int, tuple[float, float]]] = [{} for _ in range(s.containers or 0)]
    shared: dict[int, tuple[float, float]] = {}
    # Little's law: the fleet is the rate x the mean time per request (a moving average over about a
    # second of requests), unless given; each request goes to one of the fleet's containers at random.
    mean_ms = lat.model.median_ms
    smoothing = min(1.0, 1.0 / s.rate)
    fleet = s.containers or 1
    fleet_sum = 0

    counts: Counter[str] = Counter()
    throttled = {"active": Counter(), "fallback": Counter()}
    calls: Counter[str] = Counter()
    latencies: list[float] = []
    busy_ms = 0.0
    billed_ms = 0
    model_calls = fallback_calls = 0
    reads = writes = 0
    cold = 0

    t = 0.0
    while True:
        t += rng.expovariate(s.rate)
        if t >= end:
            break
        counted = t >= warmup
        if s.containers is None:
            fleet = max(1, math.ceil(s.rate * mean_ms / 1000))
        ms = 0.0
        container = rng.randrange(fleet)
        started_cold = container >= len(caches)
        while container >= len(caches):
            caches.append({})
        if started_cold:
            ms += lat.cold_start.draw(rng)
            cold += counted
        init_ms = ms
        cache = caches[container]
        key = draw()
        tier = ""
        if cache_on:
            ms += lat.cache.draw(rng)
            entry = cache.get(key)
            if entry is not None:
                if entry[0] <= t < entry[1]:
                    tier = CACHE
                    cache[key] = cache.pop(key)  # most recently used last
                elif entry[1] <= t:
                    del cache[key]
        if not tier and s.shared_cache:
            ms += lat.shared_cache.draw(rng)
            reads += counted
            entry = shared.get(key)
            if entry is not None and entry[0] <= t < entry[1]:
                tier = SHARED_CACHE
                if cache_on:
                    _put(cache, key, t + ms / 1000, s.cache_ttl_s, s.cache_max_entries)
        if not tier and s.tier0 and _confident(key, s.tier0_confident_share, salt):
            tier = TIER0_CONFIDENT
            ms += lat.tier0.draw(rng)
        if not tier:
            refused = active.admit(t + ms / 1000, reserve)
            if refused is None:
                call = lat.model.draw(rng)
                ms += call
                done = t + ms / 1000
                active.settle(done, unused)
                tier = MODEL
                model_calls += counted
                if cache_on:
                    _put(cache, key, done, s.cache_ttl_s, s.cache_max_entries)
                if s.shared_cache:
                    _put(shared, key, done, s.shared_ttl_s, 0)
                    writes += counted
            else:
                ms += lat.throttled.draw(rng)
                if counted:
                    throttled["active"][refused] += 1
        if not tier and fallback is not None:
            refused = fallback.admit(t + ms / 1000, reserve)
            if refused is None:
                ms += lat.fallback_model.draw(rng)
                fallback.settle(t + ms / 1000, unused)
                tier = FALLBACK_MODEL
                fallback_calls += counted
            else:
                ms += lat.throttled.draw(rng)
                if counted:
                    throttled["fallback"][refused] += 1
        if not tier:
            if s.tier0:
                tier = TIER0_FALLBACK
                ms += lat.tier0.draw(rng)
            else:
                tier = HEURISTIC
                ms += lat.heuristic.draw(rng)
        mean_ms += smoothing * (ms - init_ms - mean_ms)  # a cold start's init is not the steady state
        if counted:
            fleet_sum += fleet
            counts[tier] += 1
            latencies.append(ms)
            busy_ms += ms
            billed_ms += math.ceil(ms)
    queries = sum(counts.values())
    calls.update({"model": model_calls, "fallback_model": fallback_calls, "shared_cache_reads": reads,
                  "shared_cache_writes": writes, "cold_starts": cold})  # fmt: skip
    notes = _notes(s, warmup)
    return Result(
        scenario=s,
        queries=queries,
        counts=dict(counts),
        latency_p50_ms=percentile(latencies, 50) if latencies else 0.0,
        latency_p99_ms=percentile(latencies, 99) if latencies else 0.0,
        containers=round(fleet_sum / queries) if queries else 0,
        mean_concurrency=busy_ms / 1000 / s.duration_s,
        throttled={role: dict(found) for role, found in throttled.items()},
        calls=dict(calls),
        cost=_cost(s, queries, model_calls, fallback_calls, reads, writes, billed_ms),
        notes=notes,
    )


def _put(cache: dict[int, tuple[float, float]], key: int, ready: float, ttl: float, limit: int) -> None:
    """Store an answer available from `ready` for `ttl` s; an earlier answer still to come or valid stays."""
    entry = cache.get(key)
    if entry is not None and entry[1] > ready:
        return
    cache.pop(key, None)
    cache[key] = (ready, ready + ttl)
    if limit and len(cache) > limit:
        del cache[next(iter(cache))]  # least recently used first


def _cost(
    s: Scenario, queries: int, model_calls: int, fallback_calls: int, reads: int, writes: int, billed_ms: int
) -> Cost:
    if not queries:
        return Cost(0.0, 0.0, 0.0, 0.0)
    per_query = 1_000_000 / queries
    p = s.prices

    def tokens(price: tuple[float, float] | None, answered: int) -> float | None:
        if answered == 0:
            return 0.0
        if price is None:
            return None
        return answered * (s.input_tokens * price[0] + s.output_tokens * price[1]) / 1_000_000

    active, fallback = (
        tokens(s.model_pricing.active, model_calls),
        tokens(s.model_pricing.fallback, fallback_calls),
    )
    bedrock = None if active is None or fallback is None else (active + fallback) * per_query
    gb_seconds = billed_ms / 1000 * p.memory_mb / 1024
    lambda_ = (
        queries * p.lambda_per_1m_requests / 1_000_000 + gb_seconds * p.lambda_per_gb_second
    ) * per_query
    dynamodb = (
        reads * p.rru_per_read * p.dynamodb_per_1m_rru + writes * p.wru_per_write * p.dynamodb_per_1m_wru
    )
    return Cost(bedrock, lambda_, p.api_gateway_per_1m_requests, dynamodb / 1_000_000 * per_query)


def _notes(s: Scenario, warmup: float) -> list[str]:
    notes = [
        f"simulated {warmup:g} s of warm-up (not counted) and {s.duration_s:g} s counted at {s.rate:g} q/s"
    ]
    longest = max(s.cache_ttl_s, s.shared_ttl_s if s.shared_cache else 0.0)
    if longest > warmup:
        notes.append(
            f"a cache TTL of {longest:g} s is longer than the warm-up: its hit share is a lower bound"
        )
    if s.mix.weights is not None and len(s.mix.weights) < s.rate * (warmup + s.duration_s):
        notes.append(f"the file has {len(s.mix.weights):,} distinct queries, fewer than the simulated requests: "
                     "sampled with replacement, repeats beyond the file's own are artefacts")  # fmt: skip
    if s.settlement == "none":
        notes.append(
            "settlement none: the whole maxTokens reservation counts against the token quota (worst case)"
        )
    return notes
