"""`vsr capacity`: what share of the queries each tier answers at a request rate, and what would reach the goals.

The model is `cdk_app.operator.capacity` (a seeded simulation, no AWS calls); its inputs come from
cdk.json, the account's Service Quotas when the stacks are deployed (defaults otherwise, and the
output says which), a query file (`--queries`) and a run's report (`--run`: its recommended
maxTokens and the distilled model's measured answer length). This module parses the options and
lays the result out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from cdk_app.operator import capacity as model
from cdk_app.operator import capacity_inputs as inputs
from cdk_app.operator.console import out, usd
from cdk_app.operator.errors import OperatorError, explain_error
from cdk_app.operator.session import CliState, cli_state

_FLAGS = {
    "shared_cache": "--shared-cache",
    "tier0": "--tier0",
    "tier0_confident_share": "--tier0-confident",
    "rpm": "--rpm",
    "tpm": "--tpm",
    "max_tokens": "--max-tokens",
    "shared_ttl_s": "--shared-ttl",
}


def rerun_command(scenario: model.Scenario, **changes: Any) -> str:
    """The `vsr capacity` line that checks a recommendation (the scenario's switches plus the changes)."""
    words = ["vsr capacity", f"--rate {scenario.rate:g}"]
    switches = {"shared_cache": scenario.shared_cache, "tier0": scenario.tier0}
    for name, on in switches.items():
        if on or changes.get(name):
            words.append(_FLAGS[name])
    for name, value in changes.items():
        if name not in switches:
            words.append(
                f"{_FLAGS[name]} {value:g}" if isinstance(value, float) else f"{_FLAGS[name]} {value}"
            )
    return "`" + " ".join(words) + "`"


def _read_queries(state: CliState, where: str) -> model.QueryMix:
    if where.startswith("s3://"):
        texts = state.operator().read_s3_texts(where)
    else:
        path = Path(where)
        try:
            texts = [(where, path.read_text(encoding="utf-8"))]
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise OperatorError(f"cannot read {where}: {reason}") from None
    return inputs.query_mix(texts)


def _quotas(state: CliState, offline: bool) -> tuple[model.Quota, model.Quota | None, list[str]]:
    """The deployment's quotas, or the defaults with a note saying why."""
    active, fallback = model.DEFAULT_ACTIVE_QUOTA, model.DEFAULT_FALLBACK_QUOTA
    if offline:
        return active, fallback, ["quotas: defaults (--offline)"]
    try:
        found_active, found_fallback = state.operator().capacity_quotas()
    except Exception as exc:  # any failure to read the deployment means: defaults, said once
        reason = explain_error(exc, state.region) or str(exc).splitlines()[0]
        return active, fallback, [f"quotas: defaults (the deployment's could not be read: {reason})"]
    notes = []
    if found_active is None:
        notes.append("quotas: the active model's are not in Service Quotas: default used")
    if found_fallback is None:
        notes.append("quotas: the fallback model's are not in Service Quotas: default used")
    return found_active or active, found_fallback or fallback, notes


def show_capacity(result: model.Result, recommendations: list[str], notes: list[str]) -> None:
    s = result.scenario
    out.print(Text(f"Capacity at {s.rate:g} queries/s: {s.mix.describe()}", style="bold"))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("Answered by", no_wrap=True)
    table.add_column("Share", justify="right", no_wrap=True)
    table.add_column("Queries", justify="right", no_wrap=True)
    for tier in model.TIERS:
        label = model.TIER_LABELS[tier] + (" *" if tier in model.ANSWERED else "")
        table.add_row(label, f"{result.share(tier):.1%}", f"{result.counts.get(tier, 0):,}")
    out.print(table)
    verdict = "meets the goals" if result.meets_goals else "does NOT meet the goals"
    out.print(
        Text.assemble(
            f"* answered (model, a cache or confident tier-0): {result.answered_share:.1%} "
            f"(goal >= {model.GOAL_ANSWERED:.0%}); heuristic only {result.heuristic_share:.1%} "
            f"(goal <= {model.GOAL_HEURISTIC:.0%}): ",
            (verdict, "green" if result.meets_goals else "bold red"),
        )
    )
    out.print(
        f"Latency in the router: p50 {result.latency_p50_ms:,.1f} ms, p99 {result.latency_p99_ms:,.1f} ms; "
        f"{result.containers:,} containers (Little's law), {result.mean_concurrency:,.1f} busy on average."
    )
    for role, quota in (("active", s.active_quota), ("fallback", s.fallback_quota)):
        if quota is None:
            continue
        bound = inputs.quota_bound(quota, s.input_tokens, s.max_tokens, s.output_tokens)
        refused = result.throttled.get(role, {})
        out.print(
            f"Quota {role}: {quota.requests_per_minute:,.0f} requests and {quota.tokens_per_minute:,.0f} tokens "
            f"per minute, {quota.source}: at most {bound.per_s:,.1f} calls/s (bound by {bound.binding}); "
            f"refused here: {refused.get('requests', 0):,} for requests, {refused.get('tokens', 0):,} for tokens."
        )
    cost = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title_justify="left",
                 title="Cost per 1M queries (USD)")  # fmt: skip
    for name in ("Bedrock tokens", "Lambda", "API Gateway", "DynamoDB", "Total"):
        cost.add_column(name, justify="right", no_wrap=True)
    c = result.cost
    cost.add_row(usd(c.bedrock), usd(c.lambda_), usd(c.api_gateway), usd(c.dynamodb), usd(c.total))
    out.print(cost)
    out.print(Text("Recommendations:", style="bold"))
    for line in recommendations:
        out.print(f"  - {line}")
    out.print(Text("Assumptions:", style="bold"))
    for line in [*notes, *result.notes, *assumption_lines(s)]:
        out.print(f"  - {line}")


def assumption_lines(s: model.Scenario) -> list[str]:
    lat = s.latencies
    return [
        f"a call reserves {s.input_tokens} input + {s.max_tokens} maxTokens tokens; answers are {s.output_tokens} "
        f"output tokens; settlement {s.settlement}; quota buckets hold {s.bucket_seconds:g} s of quota",
        f"in-process cache: TTL {s.cache_ttl_s:g} s, {s.cache_max_entries:,} entries per container"
        + (f"; shared cache: TTL {s.shared_ttl_s:g} s" if s.shared_cache else "; no shared cache"),
        f"tier-0: {'on, confident on ' + format(s.tier0_confident_share, '.0%') + ' of queries' if s.tier0 else 'off'}",
        f"latency medians: model {lat.model.median_ms:g} ms, fallback {lat.fallback_model.median_ms:g} ms, "
        f"shared cache {lat.shared_cache.median_ms:g} ms, throttled call {lat.throttled.median_ms:g} ms "
        f"(lognormal, seed {s.seed}); docs/capacity.md lists every default",
    ]


def capacity(
    ctx: typer.Context,
    rate: Annotated[
        float | None,
        typer.Option(help="Queries per second (default: api_throttle_rate, what the API accepts)."),
    ] = None,
    duration: Annotated[float, typer.Option(help="Seconds counted (after the warm-up).")] = 60.0,
    warmup: Annotated[
        float | None, typer.Option(help="Seconds simulated before counting (default: derived).")
    ] = None,
    head_share: Annotated[float, typer.Option(help="Share of queries from the Zipf head.")] = 0.6,
    head_size: Annotated[int, typer.Option(help="Distinct queries in the head.")] = 200_000,
    exponent: Annotated[float, typer.Option(help="Zipf exponent of the head.")] = 1.0,
    queries: Annotated[
        str | None,
        typer.Option(
            metavar="FILE|s3://...",
            help="Sample the queries of a JSONL (held-out `query` lines or invocation logs).",
        ),
    ] = None,
    shared_cache: Annotated[
        bool | None,
        typer.Option(
            "--shared-cache/--no-shared-cache",
            help="A shared cache behind the in-process one (default: router_shared_cache.enabled).",
            show_default=False,
        ),
    ] = None,
    shared_ttl: Annotated[
        float | None,
        typer.Option(help="Shared cache TTL in s (default: router_shared_cache.ttl_seconds)."),
    ] = None,
    tier0: Annotated[
        bool, typer.Option("--tier0/--no-tier0", help="The tier-0 local model in the router.")
    ] = False,
    tier0_confident: Annotated[
        float | None,
        typer.Option(
            help="Share of queries tier-0 answers confidently (default: --run's calibration, else 0.5)."
        ),
    ] = None,
    containers: Annotated[int | None, typer.Option(help="A fixed fleet (default: Little's law).")] = None,
    rpm: Annotated[
        float | None, typer.Option(help="Active model requests per minute (default: Service Quotas).")
    ] = None,
    tpm: Annotated[
        float | None, typer.Option(help="Active model tokens per minute (default: Service Quotas).")
    ] = None,
    fallback_rpm: Annotated[float | None, typer.Option(help="Fallback model requests per minute.")] = None,
    fallback_tpm: Annotated[float | None, typer.Option(help="Fallback model tokens per minute.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Converse maxTokens (default: router_max_tokens).")
    ] = None,
    output_tokens: Annotated[
        int | None, typer.Option(help="Output tokens per answer (default: --run's, else vsr cost's).")
    ] = None,
    settlement: Annotated[
        str,
        typer.Option(help="end: Bedrock returns the unused reservation when a call ends; none: it does not."),
    ] = "end",
    run: Annotated[
        str | None, typer.Option(help="A run (or `latest`) whose report gives maxTokens and answer length.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not read the deployment: default quotas.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulation (same seed, same output).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Simulate the router at a request rate: share of queries per tier, latency, cost per 1M, and what
    would reach the goals (no AWS calls but reading quotas and a report)."""  # fmt: skip
    state = cli_state(ctx)
    config = state.config
    if settlement not in ("end", "none"):
        raise OperatorError(f"--settlement must be end or none, got {settlement!r}")
    notes: list[str] = []
    mix = (_read_queries(state, queries) if queries
           else model.QueryMix(head_share=head_share, head_size=head_size, exponent=exponent))  # fmt: skip
    given = rpm is not None and tpm is not None and fallback_rpm is not None and fallback_tpm is not None
    active, fallback, quota_notes = _quotas(state, offline or given)
    notes += [] if given else quota_notes
    hint = None
    measured_output = None
    if run is not None:
        operator = state.operator()
        report = operator.report(operator.resolve_run(run))
        hint, where = inputs.recommended_max_tokens(report)
        measured_output = inputs.output_tokens_of(report)
        notes.append(f"recommended maxTokens: {hint} ({where})" if hint else where)
        if measured_output is not None and output_tokens is None:
            notes.append(
                f"output tokens per answer: {measured_output}, measured by run {report.get('run_id')}"
            )
        calibrated = inputs.confident_share_of(report)
        if tier0_confident is None and calibrated is not None:
            tier0_confident = calibrated
            notes.append(
                f"tier-0 confident share: {calibrated:.0%}, calibrated by run {report.get('run_id')}"
            )
    changes: dict[str, Any] = {
        "mix": mix, "duration_s": duration, "warmup_s": warmup, "tier0": tier0,
        "containers": containers, "settlement": settlement, "seed": seed, "active_quota": active,
    }  # fmt: skip
    if shared_cache is not None:
        changes["shared_cache"] = shared_cache
    if tier0_confident is not None:
        changes["tier0_confident_share"] = tier0_confident
    if fallback is not None:
        changes["fallback_quota"] = fallback
    if fallback_rpm is not None or fallback_tpm is not None:
        base = changes.get("fallback_quota") or model.DEFAULT_FALLBACK_QUOTA
        changes["fallback_quota"] = model.Quota(
            base.requests_per_minute if fallback_rpm is None else fallback_rpm,
            base.tokens_per_minute if fallback_tpm is None else fallback_tpm,
            "given",
        )
    if shared_ttl is not None:
        changes["shared_ttl_s"] = shared_ttl
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens
    if output_tokens is not None or measured_output is not None:
        changes["output_tokens"] = output_tokens if output_tokens is not None else measured_output
    try:
        scenario = inputs.with_quota(
            inputs.base_scenario(
                config, float(rate if rate is not None else config.api_throttle_rate), **changes
            ),
            rpm=rpm,
            tpm=tpm,
        )
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    result = model.simulate(scenario)
    recommendations = inputs.recommend(result, hint, lambda **change: rerun_command(scenario, **change))
    if as_json:
        document = {**result.to_dict(), "recommendations": recommendations, "notes": [*notes, *result.notes],
                    "recommended_max_tokens": hint}  # fmt: skip
        out.print_json(data=document)
        return
    show_capacity(result, recommendations, notes)
