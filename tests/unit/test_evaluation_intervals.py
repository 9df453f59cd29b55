"""The statistics of the report: Wilson and bootstrap intervals, verdicts, resolution, and the evidence
built from answer records (pairing, per-metric counting, breakdown, seeding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from routing import LabelledExample, RoutingDecision
from routing.converse import ConverseResult
from routing.evaluation.answering import CallOutcome, Candidate
from routing.evaluation.evidence import METRICS, compare, compare_differences, gather, paired_differences
from routing.evaluation.intervals import (
    POWER_FACTOR,
    Interval,
    bootstrap_mean,
    detectable_difference,
    percentile,
    size_needed,
    standard_deviation,
    verdict,
    wilson,
)
from routing.evaluation.records import make_record

from tests.evaluation_support import MODALITIES, REPO


def test_wilson_matches_the_published_values() -> None:
    # Newcombe (1998), Table I / the usual closed form at z = 1.96
    assert wilson(0, 10).low == 0.0 and wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10).low == pytest.approx(0.7225, abs=1e-4) and wilson(10, 10).high == 1.0
    half = wilson(50, 100)
    assert (half.low, half.high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson(0, 0) == Interval(None, None, None, 0)
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_the_bootstrap_is_seeded_and_close_to_the_normal_interval_on_a_large_sample() -> None:
    values = [1.0] * 120 + [0.0] * 280  # p = 0.3, n = 400: standard error 0.0229
    first, again = bootstrap_mean(values, "run-1/x"), bootstrap_mean(values, "run-1/x")
    assert first == again and first != bootstrap_mean(values, "run-2/x")
    assert first.estimate == pytest.approx(0.3)
    assert first.low == pytest.approx(0.3 - 1.96 * 0.0229, abs=0.01)
    assert first.high == pytest.approx(0.3 + 1.96 * 0.0229, abs=0.01)
    assert bootstrap_mean([4.0] * 7, "s") == Interval(4.0, 4.0, 4.0, 7)  # no spread, nothing to resample
    assert bootstrap_mean([], "s") == Interval(None, None, None, 0)
    assert first.to_dict() == {"estimate": 0.3, "ci95": [round(first.low, 4), round(first.high, 4)], "n": 400}


def test_the_same_seed_gives_the_same_interval_in_another_process() -> None:
    """random.Random(text) hashes the text with SHA-512: PYTHONHASHSEED does not change an interval."""
    code = (
        "import json; from routing.evaluation.intervals import bootstrap_mean; "
        "print(json.dumps(bootstrap_mean([1.0, 2.0, 5.0, 5.0, 3.0], 'run-9/mean_score').to_dict()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO / "lambdas")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == bootstrap_mean([1.0, 2.0, 5.0, 5.0, 3.0], "run-9/mean_score").to_dict()


@pytest.mark.parametrize(
    ("low", "high", "tolerance", "higher_is_better", "expected"),
    [
        (0.01, 0.3, 0.25, True, "better"),
        (-0.2, 0.1, 0.25, True, "not worse"),
        (-0.25, 0.1, 0.25, True, "not worse"),  # inclusive boundary, like every gate threshold
        (-0.6, -0.3, 0.25, True, "worse"),
        (-0.5, 0.0, 0.25, True, "undecided"),
        (-0.5, -0.25, 0.25, True, "undecided"),  # upper bound on the margin: not shown worse
        (0.0, 0.0, 0.0, True, "not worse"),
        (-0.1, 0.1, 0.0, True, "undecided"),
        (-0.05, -0.01, 0.0, False, "better"),  # lower is better (MAE): a negative difference is a gain
        (0.01, 0.05, 0.0, False, "worse"),
    ],
)
def test_verdicts(low, high, tolerance, higher_is_better, expected) -> None:
    assert verdict(Interval(0.0, low, high, 10), tolerance, higher_is_better=higher_is_better) == expected


def test_resolution_formulas() -> None:
    assert pytest.approx(2.8016, abs=1e-4) == POWER_FACTOR
    assert detectable_difference(1.0, 100) == pytest.approx(0.28016, abs=1e-5)
    assert size_needed(1.0, 0.25) == 126  # (2.8016 / 0.25)^2 = 125.6
    assert size_needed(1.0, -0.25) == 126 and size_needed(0.0, 0.25) == 2 and size_needed(1.0, 0.0) is None
    assert standard_deviation([1.0, 3.0]) == pytest.approx(2**0.5) and standard_deviation([1.0]) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def _record(candidate: str, index: int, answer: dict[str, float] | None, dominant: str = "visual"):
    reference = {m: (0.55 if m == dominant else 0.15) for m in MODALITIES}
    example = LabelledExample(f"query {index}", RoutingDecision.from_weights(reference))
    text = None if answer is None else json.dumps({**answer, "reasoning": "r"})
    outcome = CallOutcome(ConverseResult(text, "end_turn", 60, 40, 100.0, 90.0), None, 1) if text else CallOutcome(
        None, "AccessDeniedException: no", 1
    )  # fmt: skip
    return make_record(Candidate(candidate, f"{candidate}.model"), index, example, outcome, MODALITIES)


def _exact(dominant: str = "visual") -> dict[str, float]:
    return {m: (0.55 if m == dominant else 0.15) for m in MODALITIES}


def test_pairs_are_the_same_query_and_reference_and_mae_counts_valid_answers_only() -> None:
    a = [_record("distilled", 0, _exact()), _record("distilled", 1, None), _record("distilled", 2, _exact())]
    b = [_record("baseline", 0, _exact()), _record("baseline", 1, _exact()), _record("baseline", 3, _exact())]
    score, mae = METRICS[0], METRICS[1]
    assert paired_differences(a, b, score) == [0.0, -4.0]  # index 2 has no partner, index 3 no answer of a
    assert paired_differences(a, b, mae) == [0.0]  # the failed call has no error to compare
    relabelled = [_record("baseline", 0, _exact(), dominant="audio")]  # same index, another reference
    assert paired_differences(a, relabelled, score) == []
    comparisons = compare(a, b, tolerances={"mean_score": 0.25}, seed="s")
    assert comparisons["mean_score"].tolerance == 0.25 and comparisons["json_validity"].tolerance == 0.0
    assert comparisons["mae"].to_dict()["better"] == "lower"


def test_a_model_poor_on_audio_shows_in_the_breakdown() -> None:
    distilled, baseline = [], []
    for index in range(40):
        dominant = MODALITIES[index % 4]
        distilled.append(
            _record("distilled", index, _exact("visual" if dominant == "audio" else dominant), dominant)
        )
        baseline.append(_record("baseline", index, _exact(dominant), dominant))
    found = gather({"distilled": distilled, "baseline": baseline}, modalities=MODALITIES,
                   tolerances={"mean_score": 0.25}, seed="run-1", holdout_limit=1000)  # fmt: skip
    audio = found.breakdown["audio"]["distilled"]
    assert audio["n"] == 10 and audio["intervals"]["dominant_accuracy"]["estimate"] == 0.0
    assert found.breakdown["visual"]["distilled"]["intervals"]["dominant_accuracy"]["estimate"] == 1.0
    assert found.candidates["distilled"]["dominant_accuracy"].estimate == 0.75
    assert found.comparison("distilled_vs_baseline", "dominant_accuracy").verdict == "worse"
    assert list(found.comparisons) == ["distilled_vs_baseline"]
    resolution = found.resolution
    assert resolution["comparison"] == "distilled_vs_baseline" and resolution["pairs"] == 40
    assert resolution["pairs_needed"] == size_needed(resolution["sd"], 0.25)
    again = gather({"distilled": distilled, "baseline": baseline}, modalities=MODALITIES,
                   tolerances={"mean_score": 0.25}, seed="run-1", holdout_limit=1000)  # fmt: skip
    assert again.to_dict() == found.to_dict()


def test_undecided_says_how_many_pairs_would_decide_it() -> None:
    noisy = compare_differences("mean_score", [0.0] * 11 + [-2.0], tolerance=0.25, seed="s")
    assert noisy.verdict == "undecided"
    # (2.80 x sd / |estimate + tolerance|)^2 with sd 0.577, estimate -0.167: about 377 pairs
    assert noisy.pairs_to_decide() == size_needed(noisy.sd, noisy.difference.estimate + 0.25) == 377
