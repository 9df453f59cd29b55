"""The quality gate: each threshold, equality at the boundary, a missing or silent baseline."""

from __future__ import annotations

from routing.evaluation.gate import evaluate_gate
from routing.evaluation.metrics import LatencyStats, ModelSummary
from routing.settings import GateThresholds

THRESHOLDS = GateThresholds(
    min_mean_score=3.5, max_score_drop=0.25, min_json_validity=0.95, max_p95_latency_ratio=1.0
)


def summary(candidate: str, mean: float, validity: float = 1.0, p95: float | None = 800.0) -> ModelSummary:
    return ModelSummary(
        candidate=candidate, model_id=f"{candidate}.model", answers=100, errors=0, valid=int(validity * 100),
        mean_score=mean, score_distribution={str(s): 0 for s in range(1, 6)}, json_validity=validity,
        dominant_accuracy=0.9, mae=0.05, latency=LatencyStats(p95 and p95 / 2, p95, p95, p95), latencies_ms=[],
        input_tokens=0, output_tokens=0, price=None, cost_per_1m_queries_usd=None,
        confusion={"labels": [], "columns": [], "matrix": []}, error_samples=[],
    )  # fmt: skip


def failed(decision) -> list[str]:
    return [check.name for check in decision.checks if check.passed is False]


def test_passes_when_every_threshold_holds() -> None:
    decision = evaluate_gate(
        summary("distilled", 4.0, p95=800), summary("baseline", 4.1, p95=2000), THRESHOLDS
    )
    assert decision.passed
    assert failed(decision) == []
    assert len(decision.reasons) == 4
    assert decision.to_dict()["thresholds"] == THRESHOLDS.model_dump()


def test_boundaries_are_inclusive() -> None:
    # mean exactly baseline - tolerance, exactly the minimum; validity exactly 95 %; p95 equal to the baseline's
    decision = evaluate_gate(
        summary("distilled", 3.75, 0.95, 900.0), summary("baseline", 4.0, p95=900.0), THRESHOLDS
    )
    assert decision.passed, decision.reasons
    at_minimum = evaluate_gate(summary("distilled", 3.5), summary("baseline", 3.6), THRESHOLDS)
    assert at_minimum.passed


def test_each_threshold_can_fail_the_gate() -> None:
    base = summary("baseline", 4.0, p95=1000.0)
    assert failed(evaluate_gate(summary("distilled", 3.4), summary("baseline", 3.5), THRESHOLDS)) == [
        "min_mean_score"
    ]
    assert failed(evaluate_gate(summary("distilled", 3.74), base, THRESHOLDS)) == ["max_score_drop"]
    assert failed(evaluate_gate(summary("distilled", 4.0, validity=0.94), base, THRESHOLDS)) == [
        "min_json_validity"
    ]
    slow = evaluate_gate(summary("distilled", 4.0, p95=1000.5), base, THRESHOLDS)
    assert failed(slow) == ["max_p95_latency_ratio"]
    assert not slow.passed
    assert slow.reasons == [
        "FAILED max_p95_latency_ratio: distilled p95 latency 1000.5 ms > baseline p95 1000.0 ms x 1 = 1000.0 ms"
    ]
    # Shown with the decimals that tell the two apart: a failure never reads "33 ms > 33 ms".
    close = evaluate_gate(
        summary("distilled", 4.0, p95=33.004), summary("baseline", 4.0, p95=33.0), THRESHOLDS
    )
    assert close.reasons == [
        "FAILED max_p95_latency_ratio: distilled p95 latency 33.004 ms > baseline p95 33.000 ms x 1 = 33.000 ms"
    ]


def test_latency_ratio_is_configurable() -> None:
    lenient = GateThresholds(max_p95_latency_ratio=1.5)
    assert evaluate_gate(
        summary("distilled", 4.0, p95=1400.0), summary("baseline", 4.0, p95=1000.0), lenient
    ).passed


def test_without_a_baseline_candidate_the_comparisons_are_skipped() -> None:
    decision = evaluate_gate(summary("distilled", 4.0), None, THRESHOLDS)
    assert decision.passed
    skipped = [check.name for check in decision.checks if check.passed is None]
    assert skipped == ["max_score_drop", "max_p95_latency_ratio"]
    assert any("no baseline candidate" in reason for reason in decision.reasons)


def test_a_baseline_without_successful_calls_fails_the_latency_comparison() -> None:
    decision = evaluate_gate(
        summary("distilled", 4.0), summary("baseline", 1.0, validity=0.0, p95=None), THRESHOLDS
    )
    assert failed(decision) == ["max_p95_latency_ratio"]


def test_a_distilled_model_that_never_answered_fails() -> None:
    decision = evaluate_gate(
        summary("distilled", 1.0, validity=0.0, p95=None), summary("baseline", 4.0), THRESHOLDS
    )
    assert set(failed(decision)) == {
        "min_mean_score",
        "max_score_drop",
        "min_json_validity",
        "max_p95_latency_ratio",
    }
    assert not evaluate_gate(None, summary("baseline", 4.0), THRESHOLDS).passed
