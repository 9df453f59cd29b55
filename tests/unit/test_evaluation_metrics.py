"""Latency percentiles, cost arithmetic, prices per candidate, per-model aggregates."""

from __future__ import annotations

import pytest
from routing import LabelledExample, RoutingDecision, model_ids
from routing.converse import ConverseResult
from routing.evaluation.answering import CallOutcome, Candidate
from routing.evaluation.events import GateThresholds as EventGate
from routing.evaluation.events import Price
from routing.evaluation.metrics import LatencyStats, percentile, summarise
from routing.evaluation.pricing import cost_per_million_queries, price_for
from routing.evaluation.records import make_record
from routing.model_ids import foundation_model_of

from cdk_app import config as app_config
from cdk_app.config import AppConfig, GateThresholds
from tests.evaluation_support import MODALITIES


def test_percentiles_interpolate_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0  # unsorted input
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_stats() -> None:
    stats = LatencyStats.of([100.0, 200.0, 300.0, 400.0, 1000.0])
    assert stats.to_dict() == {"p50": 300.0, "p95": 880.0, "p99": 976.0, "mean": 400.0}
    assert LatencyStats.of([]).to_dict() == {"p50": None, "p95": None, "p99": None, "mean": None}


def test_cost_per_million_queries() -> None:
    haiku = Price(input_per_1m=1.0, output_per_1m=5.0)
    micro = Price(input_per_1m=0.035, output_per_1m=0.14)
    # 100 calls, 60 input + 40 output tokens each: 60 x $1 + 40 x $5 = $260 per 1M queries.
    assert cost_per_million_queries(haiku, input_tokens=6000, output_tokens=4000, calls=100) == pytest.approx(
        260.0
    )
    assert cost_per_million_queries(micro, input_tokens=6000, output_tokens=4000, calls=100) == pytest.approx(
        7.7
    )
    assert cost_per_million_queries(None, input_tokens=6000, output_tokens=4000, calls=100) is None
    assert cost_per_million_queries(haiku, input_tokens=0, output_tokens=0, calls=0) is None


@pytest.mark.parametrize(
    ("model_id", "foundation"),
    [("amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"),
     ("amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0"),
     ("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
     ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
     ("eu.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
     ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0"),
     ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
     ("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123", "amazon.nova-micro-v1:0")],
)  # fmt: skip
def test_price_key_is_the_configuration_rule(model_id: str, foundation: str) -> None:
    # One rule: the configuration (cost previews, IAM) and the Report Lambda use the same function.
    assert app_config.foundation_model_of is model_ids.foundation_model_of
    assert foundation_model_of(model_id, "amazon.nova-micro-v1:0:128k") == foundation


def test_custom_deployment_with_an_arn_base_keeps_the_arn() -> None:
    deployment = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123"
    assert foundation_model_of(deployment, "arn:aws:bedrock:us-east-1:123456789012:imported-model/q") == (
        "arn:aws:bedrock:us-east-1:123456789012:imported-model/q"
    )


def test_distilled_deployment_is_priced_as_its_base_student() -> None:
    config = AppConfig()
    prices = {key: Price(**value.model_dump()) for key, value in config.prices.models.items()}
    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
    price = price_for(prices, arn, custom_model_base=config.student_model_id)  # amazon.nova-micro-v1:0:128k
    assert price == Price(input_per_1m=0.035, output_per_1m=0.14)
    assert price_for(prices, config.baseline_model_id, custom_model_base=config.student_model_id) == Price(
        input_per_1m=1.0, output_per_1m=5.0
    )


def test_gate_thresholds_mirror_the_configuration() -> None:
    assert EventGate().model_dump() == GateThresholds().model_dump()


def _example(dominant: str = "visual") -> LabelledExample:
    weights = {name: (0.55 if name == dominant else 0.15) for name in MODALITIES}
    return LabelledExample(f"query about {dominant}", RoutingDecision.from_weights(weights))


def _outcome(text: str | None, latency: float | None = 100.0, error: str | None = None) -> CallOutcome:
    if text is None:
        return CallOutcome(None, error, 1)
    return CallOutcome(ConverseResult(text, "end_turn", 60, 40, latency, 90.0 if latency else None), error, 1)


def test_summary_of_a_candidate() -> None:
    candidate = Candidate("distilled", "arn:deployment")
    example = _example("visual")
    perfect = '{"visual": 0.55, "audio": 0.15, "transcription": 0.15, "metadata": 0.15}'
    wrong = '{"visual": 0.15, "audio": 0.55, "transcription": 0.15, "metadata": 0.15}'
    records = [
        make_record(candidate, 0, example, _outcome(perfect, 100.0), MODALITIES),
        make_record(candidate, 1, example, _outcome(perfect, 300.0), MODALITIES),
        make_record(candidate, 2, example, _outcome(wrong, 200.0), MODALITIES),
        make_record(candidate, 3, example, _outcome("no json here", 400.0), MODALITIES),
        make_record(
            candidate, 4, example, _outcome(None, None, "ThrottlingException: slow down"), MODALITIES
        ),
    ]
    price = Price(input_per_1m=0.035, output_per_1m=0.14)
    summary = summarise("distilled", "arn:deployment", records, MODALITIES, price, judge_scores=[4.0, 5.0])
    assert summary.answers == 5
    assert summary.errors == 1
    assert summary.score_distribution == {"1": 3, "2": 0, "3": 0, "4": 0, "5": 2}
    assert summary.mean_score == pytest.approx((5 + 5 + 1 + 1 + 1) / 5)  # wrong dominant, errors .4 -> 1
    assert summary.json_validity == pytest.approx(3 / 5)
    assert summary.dominant_accuracy == pytest.approx(2 / 5)
    assert summary.mae == pytest.approx((0 + 0 + 0.2) / 3, abs=1e-4)
    assert summary.latency.p50 == pytest.approx(250.0)  # successful calls only: 100 200 300 400
    assert summary.input_tokens == 240
    assert summary.cost_per_1m_queries_usd == pytest.approx(60 * 0.035 + 40 * 0.14)
    assert summary.judge_mean_score == 4.5
    assert summary.error_samples == ["ThrottlingException x1"]
    confusion = summary.confusion
    assert confusion["columns"] == [*MODALITIES, "invalid"]
    assert confusion["matrix"][0] == [2, 1, 0, 0, 2]  # reference visual: 2 right, 1 audio, 2 invalid
    trace = sum(confusion["matrix"][i][i] for i in range(len(MODALITIES)))
    assert trace / summary.answers == summary.dominant_accuracy
