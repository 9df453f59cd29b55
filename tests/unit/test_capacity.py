"""The capacity model (`cdk_app.operator.capacity`) on cases whose answer is known without it: under the quota
every unique query reaches the model; at ten times the quota a tenth does; one repeated query is a cache
hit; a token-bound model answers twice as many calls at half the reservation; a shared cache beats
per-container caches; the same seed gives the same result. Small windows: each case runs in well under a second."""

from __future__ import annotations

import math
import re

import pytest

from cdk_app.config import load_config
from cdk_app.operator import capacity
from cdk_app.operator.capacity import QueryMix, Quota, Scenario, simulate
from cdk_app.operator.capacity_inputs import base_scenario, query_mix, recommend

UNIQUE = QueryMix(head_share=0.0)
NOVA_MICRO = Quota(1_000, 2_000_000)  # 16.7 requests per second


def test_under_the_quota_every_unique_query_is_answered_by_the_model() -> None:
    result = simulate(Scenario(rate=10, mix=UNIQUE, active_quota=NOVA_MICRO, fallback_quota=None))
    assert result.queries > 500
    assert result.share(capacity.MODEL) == 1.0
    assert result.throttled["active"] == {}


def test_at_ten_times_the_request_quota_a_tenth_reaches_the_model() -> None:
    rate = 10 * NOVA_MICRO.requests_per_second()
    result = simulate(Scenario(rate=rate, mix=UNIQUE, active_quota=NOVA_MICRO, fallback_quota=None))
    # 1,000 calls a minute out of 10,000 queries; Poisson arrivals, seed 1: within a percentage point.
    assert result.share(capacity.MODEL) == pytest.approx(0.10, abs=0.01)
    assert result.share(capacity.HEURISTIC) == pytest.approx(0.90, abs=0.01)
    assert set(result.throttled["active"]) == {"requests"}


def test_one_repeated_query_is_a_cache_hit_after_the_warm_up() -> None:
    result = simulate(Scenario(rate=50, mix=QueryMix(head_share=1.0, head_size=1), duration_s=20, warmup_s=5))
    # Each container calls the model once, then answers from its cache for the TTL.
    assert result.share(capacity.CACHE) > 0.99
    assert result.share(capacity.CACHE) + result.share(capacity.MODEL) == 1.0


def test_a_token_bound_model_answers_twice_as_many_calls_at_half_the_reservation() -> None:
    # 10,000 tokens a second, no input tokens, the whole reservation counted (settlement none):
    # 10,000 / 512 = 19.5 calls a second, 10,000 / 256 = 39.1; the requests quota does not bind.
    shares = {}
    for max_tokens in (512, 256):
        scenario = Scenario(
            rate=200, mix=UNIQUE, active_quota=Quota(1_000_000, 600_000), fallback_quota=None,
            input_tokens=0, max_tokens=max_tokens, settlement="none", duration_s=30,
        )  # fmt: skip
        result = simulate(scenario)
        assert set(result.throttled["active"]) == {"tokens"}
        shares[max_tokens] = result.share(capacity.MODEL)
    assert shares[512] == pytest.approx(19.5 / 200, abs=0.005)
    assert shares[256] / shares[512] == pytest.approx(2.0, rel=0.05)


def test_with_settlement_at_the_end_a_short_call_returns_its_unused_reservation() -> None:
    # The same token quota, but Bedrock's settlement returns maxTokens - output at each call's end:
    # a call holds its reservation under a second, so the tokens per minute no longer bind.
    result = simulate(Scenario(rate=50, mix=UNIQUE, active_quota=Quota(1_000_000, 600_000), fallback_quota=None,
                               input_tokens=0, output_tokens=100, max_tokens=512))  # fmt: skip
    assert result.share(capacity.MODEL) == 1.0


def test_a_shared_cache_answers_more_than_per_container_caches() -> None:
    mix = QueryMix(head_share=1.0, head_size=2_000, exponent=1.0)
    base = Scenario(rate=200, mix=mix, duration_s=30, warmup_s=60)
    per_container = simulate(base)
    shared = simulate(Scenario(**{**base.__dict__, "shared_cache": True}))
    cached = per_container.share(capacity.CACHE)
    both = shared.share(capacity.CACHE) + shared.share(capacity.SHARED_CACHE)
    assert per_container.containers > 10  # many containers, each with a slice of the traffic
    assert both > cached + 0.1
    assert shared.answered_share > per_container.answered_share


def test_tier0_answers_throttled_queries_instead_of_the_heuristic() -> None:
    base = Scenario(rate=200, mix=UNIQUE, duration_s=20, warmup_s=60, tier0=True, tier0_confident_share=0.3)
    result = simulate(base)
    assert result.share(capacity.HEURISTIC) == 0.0
    assert result.share(capacity.TIER0_CONFIDENT) == pytest.approx(0.3, abs=0.02)
    assert result.share(capacity.TIER0_FALLBACK) > 0.4


def test_the_same_seed_gives_the_same_result_and_another_seed_another() -> None:
    scenario = Scenario(
        rate=300, mix=QueryMix(head_size=5_000), duration_s=10, warmup_s=60, shared_cache=True
    )
    first, again = simulate(scenario), simulate(scenario)
    assert first.to_dict() == again.to_dict()
    other = simulate(Scenario(**{**scenario.__dict__, "seed": 2}))
    assert other.counts != first.counts


def test_bad_scenarios_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="rate must be between 0 and 100,000"):
        Scenario(rate=0)
    with pytest.raises(ValueError, match="tier-0 confident share must be in"):
        Scenario(rate=10, tier0_confident_share=1.5)
    with pytest.raises(ValueError, match="more than 5,000,000 simulated requests"):
        Scenario(rate=50_000, duration_s=600)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"active_quota": Quota(math.nan, 2_000_000)}, "the active model's quota must be finite"),
        ({"fallback_quota": Quota(2_000, math.inf)}, "the fallback model's quota must be finite"),
        ({"shared_cache": True, "shared_ttl_s": -5.0}, "cache TTLs must be finite and >= 0"),
        ({"cache_ttl_s": math.nan}, "cache TTLs must be finite and >= 0"),
        ({"mix": QueryMix(exponent=math.nan)}, "a finite exponent >= 0"),
        ({"mix": QueryMix(head_size=10**9)}, "a head size from 1 to 5,000,000"),
    ],
)
def test_a_scenario_refuses_what_would_simulate_nonsense(changes: dict, message: str) -> None:
    # NaN passes every `<` check (a NaN quota admitted every call; a NaN exponent drew ranks from NaN
    # weights), a negative TTL cached nothing, and a head of 10^9 ranks built a 10^9-element list.
    with pytest.raises(ValueError, match=re.escape(message)):
        Scenario(rate=10, **changes)


def test_the_deployment_defaults_come_from_cdk_json_and_the_cost_assumptions() -> None:
    config = load_config({"router_cache_ttl_seconds": 120, "router_max_tokens": 128})
    scenario = base_scenario(config, 100.0)
    assert (scenario.cache_ttl_s, scenario.max_tokens, scenario.input_tokens, scenario.output_tokens) == (
        120.0, 128, 42, 69,
    )  # fmt: skip
    assert scenario.model_pricing.active == (0.035, 0.14)  # the distilled model, priced as Nova Micro
    assert load_config({}).router_max_tokens == 256
    # The shared cache as deployed: off by default; when enabled, with its own TTL.
    assert base_scenario(load_config({}), 100.0).shared_cache is False
    shared = base_scenario(load_config({"router_shared_cache": {"enabled": True, "ttl_seconds": 900}}), 100.0)
    assert (shared.shared_cache, shared.shared_ttl_s) == (True, 900.0)


def test_the_shared_cache_is_simulated_as_configured() -> None:
    # The deployed table keeps a decision for router_shared_cache.ttl_seconds (3,600 s by default), not for
    # the in-process cache's TTL; and a deployment with the table on is simulated with it.
    config = load_config({"router_cache_ttl_seconds": 120,
                          "router_shared_cache": {"enabled": True, "ttl_seconds": 1_800}})  # fmt: skip
    scenario = base_scenario(config, 100.0)
    assert (scenario.shared_cache, scenario.shared_ttl_s, scenario.cache_ttl_s) == (True, 1_800.0, 120.0)
    assert base_scenario(config, 100.0, shared_cache=False).shared_cache is False
    assert base_scenario(load_config({}), 100.0).shared_ttl_s == 3_600.0


def test_a_query_file_gives_the_repeat_distribution() -> None:
    logged = (
        '{"schemaType": "ModelInvocationLog", "input": {"inputBodyJson": {"messages": '
        '[{"role": "user", "content": [{"text": "Cat videos"}]}]}}}'
    )
    mix = query_mix([("heldout.jsonl", '{"query": "cat videos"}\n{"query": "news"}\n\n' + logged + "\n")])
    assert mix.weights == (2, 1)  # normalised as the cache keys them
    from cdk_app.operator.errors import OperatorError

    with pytest.raises(OperatorError, match=r"heldout\.jsonl line 2: not JSON"):
        query_mix([("heldout.jsonl", '{"query": "a"}\n{oops\n')])
    with pytest.raises(OperatorError, match="line 1: no `query` field"):
        query_mix([("x.jsonl", '{"text": "a"}\n')])


def test_gzipped_invocation_logs_under_a_prefix_are_read() -> None:
    """Bedrock's invocation logging may deliver `.json.gz` files: a prefix reads them, gunzipped."""
    import gzip

    import boto3
    from moto import mock_aws

    from cdk_app.operator.errors import OperatorError
    from cdk_app.operator.gold import read_s3_texts

    logged = (
        '{"schemaType": "ModelInvocationLog", "input": {"inputBodyJson": {"messages": '
        '[{"role": "user", "content": [{"text": "Cat videos"}]}]}}}\n'
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="vsr-test-logs")
        s3.put_object(Bucket="vsr-test-logs", Key="AWSLogs/1/BedrockModelInvocationLogs/a.json.gz",
                      Body=gzip.compress(logged.encode()))  # fmt: skip
        s3.put_object(
            Bucket="vsr-test-logs", Key="AWSLogs/1/BedrockModelInvocationLogs/b.jsonl", Body=logged * 2
        )
        s3.put_object(
            Bucket="vsr-test-logs", Key="AWSLogs/1/BedrockModelInvocationLogs/notes.txt", Body=b"ignored"
        )
        s3.put_object(Bucket="vsr-test-logs", Key="broken.json.gz", Body=b"\x1f\x8bnot gzip")
        texts = read_s3_texts(s3, "s3://vsr-test-logs/AWSLogs/1/")
        assert query_mix(texts).weights == (3,)
        with pytest.raises(OperatorError, match=r"broken\.json\.gz: not readable gzip"):
            read_s3_texts(s3, "s3://vsr-test-logs/broken.json.gz")


def test_recommendations_say_what_would_reach_the_goals() -> None:
    result = simulate(Scenario(rate=100, mix=UNIQUE, duration_s=20, warmup_s=60))
    lines = recommend(result)
    assert lines[0].startswith("Does NOT meet the goals at 100 q/s")
    assert any(line.startswith("Turn tier-0 on") for line in lines)
    assert any("Tier-0 would have to answer" in line for line in lines)
    quota_line = next(line for line in lines if line.startswith("Or a model quota of about"))
    # Every query is unique (no cache): 95 % of the counted queries must be model calls, per minute.
    needed = math.ceil(0.95 * result.queries) / 20 * 60
    assert f"about {math.ceil(needed):,} requests" in quota_line
    met = simulate(Scenario(rate=5, mix=UNIQUE, duration_s=20, warmup_s=60))
    assert recommend(met)[0].startswith("Meets the goals at 5 q/s")
