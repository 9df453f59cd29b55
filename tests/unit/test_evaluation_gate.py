"""The quality gate: each threshold, equality at the boundary, a missing or silent baseline, and the
score check as non-inferiority on the paired difference's interval (better / not worse / worse / undecided)."""

from __future__ import annotations

from routing.evaluation.evidence import Comparison, compare_differences
from routing.evaluation.gate import evaluate_gate
from routing.evaluation.intervals import Interval
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


def difference(values: list[float]) -> Comparison:
    """The paired mean-score comparison distilled - baseline over these per-query differences."""
    return compare_differences("mean_score", values, tolerance=THRESHOLDS.max_score_drop, seed="test")


NO_CHANGE = difference([0.0] * 100)


def failed(decision) -> list[str]:
    return [check.name for check in decision.checks if check.passed is False]


def test_passes_when_every_threshold_holds() -> None:
    # 10 of 100 queries one point lower: -0.10 (95 % CI about -0.16 to -0.04), inside the 0.25 tolerance
    decision = evaluate_gate(
        summary("distilled", 4.0, p95=800), summary("baseline", 4.1, p95=2000), THRESHOLDS,
        score_difference=difference([0.0] * 90 + [-1.0] * 10),
    )  # fmt: skip
    assert decision.passed
    assert failed(decision) == []
    assert len(decision.reasons) == 4
    assert decision.to_dict()["thresholds"] == THRESHOLDS.model_dump()


def test_boundaries_are_inclusive() -> None:
    # the difference's lower bound exactly -tolerance (every query 0.25 lower), exactly the minimum;
    # validity exactly 95 %; p95 equal to the baseline's
    decision = evaluate_gate(
        summary("distilled", 3.75, 0.95, 900.0), summary("baseline", 4.0, p95=900.0), THRESHOLDS,
        score_difference=difference([-0.25] * 100),
    )  # fmt: skip
    assert decision.passed, decision.reasons
    at_minimum = evaluate_gate(
        summary("distilled", 3.5),
        summary("baseline", 3.6),
        THRESHOLDS,
        score_difference=difference([-0.1] * 100),
    )
    assert at_minimum.passed


def test_each_threshold_can_fail_the_gate() -> None:
    base = summary("baseline", 4.0, p95=1000.0)
    assert failed(evaluate_gate(summary("distilled", 3.4), summary("baseline", 3.5), THRESHOLDS,
                                score_difference=difference([-0.1] * 100))) == ["min_mean_score"]  # fmt: skip
    assert failed(
        evaluate_gate(
            summary("distilled", 3.74), base, THRESHOLDS, score_difference=difference([-0.26] * 100)
        )
    ) == ["max_score_drop"]
    assert failed(evaluate_gate(summary("distilled", 4.0, validity=0.94), base, THRESHOLDS,
                                score_difference=NO_CHANGE)) == ["min_json_validity"]  # fmt: skip
    slow = evaluate_gate(summary("distilled", 4.0, p95=1000.5), base, THRESHOLDS, score_difference=NO_CHANGE)
    assert failed(slow) == ["max_p95_latency_ratio"]
    assert not slow.passed
    assert slow.reasons == [
        "FAILED max_p95_latency_ratio: distilled p95 latency 1000.5 ms > baseline p95 1000.0 ms x 1 = 1000.0 ms"
    ]
    # Shown with the decimals that tell the two apart: a failure never reads "33 ms > 33 ms".
    close = evaluate_gate(
        summary("distilled", 4.0, p95=33.004), summary("baseline", 4.0, p95=33.0), THRESHOLDS,
        score_difference=NO_CHANGE,
    )  # fmt: skip
    assert close.reasons == [
        "FAILED max_p95_latency_ratio: distilled p95 latency 33.004 ms > baseline p95 33.000 ms x 1 = 33.000 ms"
    ]


def test_latency_ratio_is_configurable() -> None:
    lenient = GateThresholds(max_p95_latency_ratio=1.5)
    assert evaluate_gate(
        summary("distilled", 4.0, p95=1400.0), summary("baseline", 4.0, p95=1000.0), lenient,
        score_difference=NO_CHANGE,
    ).passed  # fmt: skip


def test_without_a_baseline_candidate_the_comparisons_are_skipped() -> None:
    decision = evaluate_gate(summary("distilled", 4.0), None, THRESHOLDS)
    assert decision.passed
    skipped = [check.name for check in decision.checks if check.passed is None]
    assert skipped == ["max_score_drop", "max_p95_latency_ratio"]
    assert any("no baseline candidate" in reason for reason in decision.reasons)


def test_a_baseline_without_successful_calls_fails_the_latency_comparison() -> None:
    decision = evaluate_gate(
        summary("distilled", 4.0), summary("baseline", 1.0, validity=0.0, p95=None), THRESHOLDS,
        score_difference=difference([3.0] * 100),
    )  # fmt: skip
    assert failed(decision) == ["max_p95_latency_ratio"]
    assert "better" in decision.checks[1].message


def test_a_distilled_model_that_never_answered_fails() -> None:
    decision = evaluate_gate(
        summary("distilled", 1.0, validity=0.0, p95=None), summary("baseline", 4.0), THRESHOLDS,
        score_difference=difference([-3.0] * 100),
    )  # fmt: skip
    assert set(failed(decision)) == {
        "min_mean_score",
        "max_score_drop",
        "min_json_validity",
        "max_p95_latency_ratio",
    }
    assert not evaluate_gate(None, summary("baseline", 4.0), THRESHOLDS).passed


def test_a_small_drop_within_noise_is_undecided_and_fails_closed_saying_how_many_more_queries() -> None:
    # 1 of 12 queries two points lower: -0.17 on average, inside the 0.25 tolerance (the old
    # point-estimate rule passed it), but the interval reaches well below -0.25.
    noisy = difference([0.0] * 11 + [-2.0])
    assert noisy.verdict == "undecided"
    decision = evaluate_gate(
        summary("distilled", 4.83), summary("baseline", 5.0), THRESHOLDS, score_difference=noisy
    )
    assert not decision.passed and failed(decision) == ["max_score_drop"]
    (reason,) = decision.reasons
    assert reason.startswith(
        "FAILED max_score_drop: distilled - baseline mean score -0.17 (95 % CI -0.50 to +0.00, 12 paired"
    )
    assert "undecided" in reason and "more held-out queries would decide it" in reason
    needed = noisy.pairs_to_decide()
    assert needed is not None and needed > 12 and f"about {needed - 12:,} more" in reason
    assert decision.checks[1].observed == noisy.difference.low and decision.checks[1].threshold == -0.25


def test_a_clear_drop_is_worse_and_a_clear_gain_is_better() -> None:
    worse = difference([-1.0] * 60 + [0.0] * 40)
    assert worse.verdict == "worse"
    decision = evaluate_gate(
        summary("distilled", 3.6), summary("baseline", 4.2), THRESHOLDS, score_difference=worse
    )
    assert failed(decision) == ["max_score_drop"] and decision.reasons[0].endswith(": worse")
    assert difference([1.0] * 30 + [0.0] * 70).verdict == "better"


def test_a_baseline_without_paired_queries_fails_the_score_check() -> None:
    decision = evaluate_gate(summary("distilled", 4.0), summary("baseline", 4.0), THRESHOLDS)
    assert failed(decision) == ["max_score_drop"]
    assert "cannot be estimated" in decision.reasons[0]


def test_the_messages_quote_the_given_intervals() -> None:
    intervals = {"mean_score": Interval(4.0, 3.9, 4.1, 100), "json_validity": Interval(0.99, 0.95, 1.0, 100)}
    decision = evaluate_gate(summary("distilled", 4.0, validity=0.99), summary("baseline", 4.0), THRESHOLDS,
                             score_difference=NO_CHANGE, intervals=intervals)  # fmt: skip
    assert decision.checks[0].message == "distilled mean score 4.00 (95 % CI 3.90 to 4.10) >= minimum 3.50"
    assert decision.checks[2].message.startswith("distilled JSON validity 99.0% (95 % CI 95.0% to 100.0%) >=")
    assert "not worse" in decision.checks[1].message
