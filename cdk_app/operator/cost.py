"""Cost model of a distillation run, of the held-out size the gate's tolerance needs, and of serving,
for `vsr cost` and `vsr start`.

Pure functions of an `AppConfig` (prices, models, sizes) and `CostAssumptions` (typical
token counts that no configuration knows). Every figure is an estimate: the assumptions
are returned as sentences so the CLI prints them next to the numbers, and a model
missing from the price table makes its line (and the total) "unknown" instead of $0.

Not counted (cents per run): Step Functions transitions, Lambda, S3, CloudWatch. The router's shared
decision cache (a DynamoDB table, `router_shared_cache`) is priced per queries like serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from routing.evaluation.intervals import detectable_difference, size_needed
from routing.pipeline.planning import EXAMPLES_PER_CALL_BUDGET, GENERATION_OVERSHOOT
from routing.settings import MAX_HOLDOUT

from cdk_app.config import AppConfig

MILLION = 1_000_000
# Assumptions that are shares (0 to 1).
RATES = frozenset({"local_cache_hit_rate", "shared_cache_hit_rate"})
# DynamoDB on demand: "For items up to 4 KB in size, an eventually consistent read request requires
# one-half read request unit" and "A standard write request unit can write an item up to 1 KB" (DynamoDB
# pricing, on-demand). A cached decision (a 32-character key, the decision JSON with one reasoning sentence,
# the expiry) is a few hundred bytes; the router reads eventually consistent.
READ_UNITS_PER_LOOKUP = 0.5
WRITE_UNITS_PER_ANSWER = 1.0


@dataclass(frozen=True)
class CostAssumptions:
    """Typical sizes behind the estimate; each can be overridden (`vsr cost --assume name=value`)."""

    # A search query ("CEO discussing quarterly earnings", "drone shot of a coastline at dusk").
    query_tokens: int = 12
    # The routing system prompt sent with every router, training and evaluation call.
    system_prompt_tokens: int = 30
    # One routing answer: braces and punctuation, one weight per modality, a reasoning sentence.
    answer_overhead_tokens: int = 5
    tokens_per_modality: int = 6
    reasoning_tokens: int = 40
    # Teacher generation prompt, system + user message (task, signals, focus, difficulty, themes,
    # answer shape): ~1,540 characters for four modalities, ~4 characters per token.
    generation_prompt_tokens: int = 400
    # Examples asked for beyond the target, for invalid answers and duplicates (Plan's own factor).
    generation_overshoot: float = 1 + GENERATION_OVERSHOOT
    # Bedrock distillation: passes over the training data, and teacher calls it makes per
    # training record to write (or augment) responses, billed at the teacher's on-demand price.
    distillation_epochs: int = 2
    distillation_teacher_calls_per_record: float = 1.0
    # LLM judge: rubric + query + reference + answer in, a rating with its explanation out.
    judge_input_tokens: int = 500
    judge_output_tokens: int = 120
    # Months a custom model is kept (custom model storage is billed monthly).
    storage_months: float = 1.0
    # Standard deviation of the per-query rubric-score difference distilled - baseline: what the
    # held-out size needed for the gate's tolerance depends on. A past report's `resolution.sd` is
    # the figure to use; 1.0 is typical of a distilled model close to its baseline on a 1-5 scale.
    paired_score_sd: float = 1.0
    # The router's caches (`router_shared_cache`): the share of queries answered by a container's own cache
    # (small across a large fleet), and the share of the rest found in the shared table.
    local_cache_hit_rate: float = 0.05
    shared_cache_hit_rate: float = 0.3

    def answer_tokens(self, modalities: int) -> int:
        return self.answer_overhead_tokens + self.tokens_per_modality * modalities + self.reasoning_tokens

    def routing_input_tokens(self) -> int:
        return self.system_prompt_tokens + self.query_tokens

    def with_overrides(self, overrides: dict[str, str]) -> CostAssumptions:
        """A copy with `name=value` overrides (values as text); ValueError names a bad one."""
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, text in overrides.items():
            if name not in types:
                raise ValueError(f"unknown assumption {name!r} (known: {', '.join(sorted(types))})")
            kind = float if types[name] in (float, "float") else int
            try:
                value = kind(text)
            except ValueError:
                raise ValueError(f"assumption {name!r} needs a number, got {text!r}") from None
            if value < 0 or (name == "generation_overshoot" and value < 1) or (name in RATES and value > 1):
                raise ValueError(f"assumption {name!r} is out of range: {text}")
            changes[name] = value
        return replace(self, **changes)


DEFAULT_ASSUMPTIONS = CostAssumptions()


@dataclass(frozen=True)
class CostLine:
    """One priced activity: `usd` is None when the model has no price in the table."""

    stage: str
    model_id: str
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float | None


@dataclass(frozen=True)
class RunEstimate:
    lines: list[CostLine]
    storage_per_month_usd: float
    storage_months: float

    @property
    def complete(self) -> bool:
        return all(line.usd is not None for line in self.lines)

    @property
    def run_usd(self) -> float:
        """Sum of the priced lines plus storage for the assumed months (a lower bound if incomplete)."""
        return sum(line.usd or 0.0 for line in self.lines) + self.storage_per_month_usd * self.storage_months


@dataclass(frozen=True)
class ServingEstimate:
    candidate: str
    model_id: str
    input_tokens_per_query: int
    output_tokens_per_query: int
    usd: float | None


def token_cost(config: AppConfig, model_id: str, input_tokens: int, output_tokens: int) -> float | None:
    price = config.price_for(model_id)
    if price is None:
        return None
    return (input_tokens * price.input_per_1m + output_tokens * price.output_per_1m) / MILLION


def generation_target(config: AppConfig, a: CostAssumptions) -> int:
    """Examples asked of the teacher: Plan's rule (overshoot, capped at one call per 20 wanted examples)."""
    with_overshoot = math.ceil(config.examples * a.generation_overshoot)
    budget = config.examples_per_call * math.ceil(config.examples / EXAMPLES_PER_CALL_BUDGET)
    return min(with_overshoot, budget)


def generation_calls(config: AppConfig, a: CostAssumptions) -> int:
    return math.ceil(generation_target(config, a) / config.examples_per_call)


def train_records(config: AppConfig) -> int:
    return config.examples - config.holdout


def training_tokens(config: AppConfig, a: CostAssumptions) -> int:
    per_record = a.routing_input_tokens() + a.answer_tokens(len(config.modalities))
    return train_records(config) * per_record * a.distillation_epochs


def candidate_model_id(config: AppConfig, candidate: str) -> str:
    """The model a candidate runs on; the distilled model is priced as its student (on-demand deployment)."""
    return config.baseline_model_id if candidate == "baseline" else config.student_model_id


def estimate_run(config: AppConfig, a: CostAssumptions = DEFAULT_ASSUMPTIONS) -> RunEstimate:
    answer = a.answer_tokens(len(config.modalities))
    lines: list[CostLine] = []

    calls = generation_calls(config, a)
    requested = generation_target(config, a)
    gen_in = calls * a.generation_prompt_tokens
    gen_out = requested * (a.query_tokens + answer)
    lines.append(
        CostLine(
            "teacher generation",
            config.teacher_model_id,
            calls,
            gen_in,
            gen_out,
            token_cost(config, config.teacher_model_id, gen_in, gen_out),
        )
    )

    records = train_records(config)
    teacher_calls = math.ceil(records * a.distillation_teacher_calls_per_record)
    dist_in = teacher_calls * a.routing_input_tokens()
    dist_out = teacher_calls * answer
    lines.append(
        CostLine(
            "distillation: teacher responses",
            config.teacher_model_id,
            teacher_calls,
            dist_in,
            dist_out,
            token_cost(config, config.teacher_model_id, dist_in, dist_out),
        )
    )
    tokens = training_tokens(config, a)
    lines.append(
        CostLine(
            "distillation: training",
            config.student_model_id,
            0,
            tokens,
            0,
            tokens * config.prices.training_per_1m_tokens / MILLION,
        )
    )
    lines += evaluation_lines(config, a, config.holdout)

    return RunEstimate(
        lines=lines,
        storage_per_month_usd=config.prices.custom_model_storage_per_month,
        storage_months=a.storage_months,
    )


def evaluation_lines(config: AppConfig, a: CostAssumptions, holdout: int) -> list[CostLine]:
    """Every candidate answering `holdout` queries, and the judge scoring each answer when it is on."""
    answer = a.answer_tokens(len(config.modalities))
    lines = []
    for candidate in config.evaluation_candidates:
        model_id = candidate_model_id(config, candidate)
        ev_in = holdout * a.routing_input_tokens()
        ev_out = holdout * answer
        lines.append(
            CostLine(
                f"evaluation: {candidate}",
                model_id,
                holdout,
                ev_in,
                ev_out,
                token_cost(config, model_id, ev_in, ev_out),
            )
        )
    if config.judge:
        judged = holdout * len(config.evaluation_candidates)
        j_in = judged * a.judge_input_tokens
        j_out = judged * a.judge_output_tokens
        lines.append(
            CostLine(
                "evaluation: LLM judge",
                config.judge_model_id,
                judged,
                j_in,
                j_out,
                token_cost(config, config.judge_model_id, j_in, j_out),
            )
        )
    return lines


@dataclass(frozen=True)
class ResolutionEstimate:
    """The held-out size the gate's tolerance needs (80 % power at 5 %) and what evaluating it costs."""

    tolerance: float
    sd: float
    configured_holdout: int
    holdout_needed: int | None  # None: a tolerance of 0 is resolved by no size
    holdout_limit: int
    usd: float | None  # the evaluation (candidates and judge) at that size; None if a price is missing

    @property
    def detectable_at_configured(self) -> float | None:
        return detectable_difference(self.sd, self.configured_holdout)


def estimate_resolution(config: AppConfig, a: CostAssumptions = DEFAULT_ASSUMPTIONS) -> ResolutionEstimate:
    """The held-out size for `gate.max_score_drop` at `a.paired_score_sd` (see intervals.size_needed), priced."""
    tolerance = config.gate.max_score_drop
    needed = size_needed(a.paired_score_sd, tolerance)
    usd = None
    if needed is not None:
        lines = evaluation_lines(config, a, needed)
        usd = sum(line.usd or 0.0 for line in lines) if all(line.usd is not None for line in lines) else None
    return ResolutionEstimate(tolerance, a.paired_score_sd, config.holdout, needed, MAX_HOLDOUT, usd)


def estimate_serving(
    config: AppConfig, a: CostAssumptions = DEFAULT_ASSUMPTIONS, queries: int = MILLION
) -> list[ServingEstimate]:
    """Token cost of routing `queries` queries with the distilled model and with the baseline.

    Cache hits (free) are ignored: this is the cost of the queries that reach a model.
    """
    answer = a.answer_tokens(len(config.modalities))
    routing_in = a.routing_input_tokens()
    estimates = []
    for candidate in ("distilled", "baseline"):
        model_id = candidate_model_id(config, candidate)
        usd = token_cost(config, model_id, routing_in * queries, answer * queries)
        estimates.append(ServingEstimate(candidate, model_id, routing_in, answer, usd))
    return estimates


@dataclass(frozen=True)
class SharedCacheEstimate:
    """The shared decision cache's table per `queries` routed queries, and the model calls its hits spare."""

    enabled: bool
    queries: int
    lookups: float  # GetItem: one per in-process miss
    writes: float  # PutItem: one per active-model answer (a lookup that missed)
    usd: float
    model_calls_spared: float
    model_usd_spared: float | None  # at the distilled model's price; None when it has no price


def estimate_shared_cache(
    config: AppConfig, a: CostAssumptions = DEFAULT_ASSUMPTIONS, queries: int = MILLION
) -> SharedCacheEstimate:
    """DynamoDB on-demand requests of the shared cache (storage, a few MB of short-lived items, is not counted)."""
    lookups = queries * (1 - a.local_cache_hit_rate)
    hits = lookups * a.shared_cache_hit_rate
    writes = lookups - hits
    prices = config.prices
    usd = (
        lookups * READ_UNITS_PER_LOOKUP * prices.dynamodb_read_per_1m_units
        + writes * WRITE_UNITS_PER_ANSWER * prices.dynamodb_write_per_1m_units
    ) / MILLION
    (distilled, *_rest) = estimate_serving(config, a, queries)
    spared = None if distilled.usd is None else distilled.usd * hits / queries
    return SharedCacheEstimate(
        config.router_shared_cache.enabled, queries, lookups, writes, usd, hits, spared
    )


def assumption_lines(config: AppConfig, a: CostAssumptions = DEFAULT_ASSUMPTIONS) -> list[str]:
    """The assumptions behind `estimate_run` and `estimate_serving`, as sentences to print."""
    n = len(config.modalities)
    answer = a.answer_tokens(n)
    lines = [
        f"a query is {a.query_tokens} tokens; the routing system prompt {a.system_prompt_tokens} tokens "
        f"(routing input = {a.routing_input_tokens()} tokens)",
        f"an answer is {answer} tokens: {a.answer_overhead_tokens} of JSON syntax + {a.tokens_per_modality} "
        f"per modality x {n} + {a.reasoning_tokens} of reasoning",
        f"teacher generation: {generation_target(config, a):,} examples asked for ({config.examples:,} x "
        f"{a.generation_overshoot:g} overshoot for invalid answers and duplicates), {config.examples_per_call} "
        f"per call, each call {a.generation_prompt_tokens} prompt tokens and {a.query_tokens + answer} output "
        "tokens per example",
        f"distillation: {train_records(config):,} training records (examples - holdout) x "
        f"{a.routing_input_tokens() + answer} tokens x {a.distillation_epochs} epochs, "
        f"${config.prices.training_per_1m_tokens:g} per 1M training tokens",
        f"distillation: Bedrock calls the teacher {a.distillation_teacher_calls_per_record:g} time(s) per "
        "training record (synthetic responses), billed at the teacher's on-demand price",
        f"custom model storage: ${config.prices.custom_model_storage_per_month:g} per month, "
        f"{a.storage_months:g} month(s) counted",
        f"evaluation: {config.holdout} held-out queries x {len(config.evaluation_candidates)} candidates "
        f"({', '.join(config.evaluation_candidates)}); the distilled model is priced as "
        f"{config.student_model_id} on demand",
    ]
    if config.judge:
        lines.append(
            f"LLM judge: one judgement per answer, {a.judge_input_tokens} tokens in, "
            f"{a.judge_output_tokens} out ({config.judge_model_id})"
        )
    else:
        lines.append("LLM judge: off")
    lines.append(
        f"resolution: per-query score differences (distilled - baseline) with a standard deviation of "
        f"{a.paired_score_sd:g} (a past report's resolution.sd); held-out size = (2.80 x sd / max_score_drop)^2 "
        "for 80 % power at 5 %"
    )
    lines.append("serving: every query reaches the model (no cache hits), same tokens as evaluation")
    lines.append(
        f"shared decision cache: {a.local_cache_hit_rate:.0%} of queries answered by a container's own cache, "
        f"{a.shared_cache_hit_rate:.0%} of the rest found in the table; a lookup is {READ_UNITS_PER_LOOKUP:g} "
        f"read request unit, a write {WRITE_UNITS_PER_ANSWER:g} write request unit, "
        f"${config.prices.dynamodb_read_per_1m_units:g} / ${config.prices.dynamodb_write_per_1m_units:g} per 1M "
        "(DynamoDB on demand)"
    )
    lines.append("prices: the configured price table (cdk.json `prices`), USD, on-demand, no free tier")
    lines.append("not counted: Step Functions, Lambda, S3, CloudWatch (cents per run)")
    for model_id in sorted(
        {line.model_id for line in estimate_run(config, a).lines} | {config.baseline_model_id}
    ):
        if config.price_for(model_id) is None:
            lines.append(f"NO PRICE for {model_id}: add it to `prices.models`; its lines are unknown")
    return lines
