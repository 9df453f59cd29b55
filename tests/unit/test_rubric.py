"""The deterministic OverallQuality rubric: boundaries, precedence, dominant ties, unusable answers."""

from __future__ import annotations

import json

import pytest
from routing import RoutingDecision, parse_decision
from routing.rubric import dominant_set, score_answer, score_decision

REFERENCE = RoutingDecision.from_weights({"visual": 0.4, "audio": 0.2, "transcription": 0.3, "metadata": 0.1})


def answer(visual: float, audio: float, transcription: float, metadata: float) -> RoutingDecision:
    weights = {"visual": visual, "audio": audio, "transcription": transcription, "metadata": metadata}
    assert sum(weights.values()) == pytest.approx(1.0)
    return RoutingDecision(weights, "")


@pytest.mark.parametrize(
    ("weights", "score", "reason"),
    [
        ((0.4, 0.2, 0.3, 0.1), 5, "within_0.05"),
        # 0.05 exactly (0.45 - 0.4 is 0.05000000000000002 in binary): still "within 0.05".
        ((0.45, 0.15, 0.3, 0.1), 5, "within_0.05"),
        ((0.451, 0.149, 0.3, 0.1), 4, "within_0.10"),
        # 0.10 exactly: still "within 0.10".
        ((0.5, 0.1, 0.3, 0.1), 4, "within_0.10"),
        ((0.501, 0.099, 0.3, 0.1), 3, "dominant_match_mae_below_0.15"),
        # max error 0.30 exactly is not "any error > 0.30"; mean error 0.15 exactly is not "< 0.15".
        ((0.7, 0.0, 0.2, 0.1), 2, "mae_at_least_0.15"),
        ((0.55, 0.05, 0.3, 0.1), 3, "dominant_match_mae_below_0.15"),
        # an error just above 0.30 scores 1 even though the dominant modality matches.
        ((0.701, 0.0, 0.199, 0.1), 1, "error_over_0.30"),
        ((0.2, 0.2, 0.5, 0.1), 2, "dominant_wrong"),
        ((0.3, 0.1, 0.5, 0.1), 2, "dominant_wrong"),
    ],
)
def test_boundaries(weights: tuple[float, ...], score: int, reason: str) -> None:
    result = score_decision(REFERENCE, answer(*weights))
    assert (result.score, result.reason) == (score, reason)


def test_mean_error_of_exactly_015_scores_2_and_just_below_scores_3() -> None:
    reference = RoutingDecision.from_weights(
        {"visual": 0.55, "audio": 0.15, "transcription": 0.15, "metadata": 0.15}
    )
    at = score_decision(reference, answer(0.7, 0.0, 0.3, 0.0))  # errors .15 .15 .15 .15
    assert at.mean_error == pytest.approx(0.15)
    assert (at.score, at.reason) == (2, "mae_at_least_0.15")
    below = score_decision(reference, answer(0.699, 0.001, 0.3, 0.0))  # errors .149 .149 .15 .15
    assert (below.score, below.reason) == (3, "dominant_match_mae_below_0.15")


def test_tie_in_reference_accepts_any_tied_modality() -> None:
    tied = RoutingDecision.from_weights({"visual": 0.4, "audio": 0.4, "transcription": 0.1, "metadata": 0.1})
    assert dominant_set(tied.weights) == ("visual", "audio")
    for weights in [(0.6, 0.2, 0.1, 0.1), (0.2, 0.6, 0.1, 0.1)]:
        result = score_decision(tied, answer(*weights))
        assert result.dominant_correct
        assert result.score == 3  # errors 0.2: not 5/4; dominant ok, mean error 0.1


def test_answer_hedging_between_a_right_and_a_wrong_modality_is_not_correct() -> None:
    result = score_decision(REFERENCE, answer(0.35, 0.35, 0.2, 0.1))
    assert result.answer_dominant == ("visual", "audio")
    assert not result.dominant_correct
    assert (result.score, result.reason) == (2, "dominant_wrong")
    # Within 0.10 everywhere, the dominant modality does not matter (rules 5 and 4 come first).
    close = score_decision(REFERENCE, answer(0.3, 0.3, 0.3, 0.1))
    assert not close.dominant_correct
    assert close.score == 4


def test_tie_decision_is_deterministic_and_order_independent_of_dict_insertion() -> None:
    tied = RoutingDecision.from_weights(
        {"visual": 0.25, "audio": 0.25, "transcription": 0.25, "metadata": 0.25}
    )
    first = score_decision(tied, answer(0.7, 0.1, 0.1, 0.1))
    second = score_decision(tied, answer(0.7, 0.1, 0.1, 0.1))
    assert first == second
    assert first.dominant_correct


@pytest.mark.parametrize(
    "text", ["", "I cannot help with that.", '{"visual": 0.3, "audio": 0.2', "null", "[1, 2]"]
)
def test_unparseable_answers_score_1(text: str) -> None:
    result = score_answer(REFERENCE, parse_decision(text))
    assert (result.score, result.reason) == (1, "unparseable")
    assert result.max_error is None
    assert not result.dominant_correct


def test_missing_keys_score_1_even_when_close() -> None:
    parsed = parse_decision('{"visual": 0.4, "audio": 0.2, "transcription": 0.4, "reasoning": "x"}')
    assert parsed.ok
    assert "missing:metadata" in parsed.repairs
    assert score_answer(REFERENCE, parsed).score == 1


def test_repaired_but_complete_answers_are_not_penalised() -> None:
    text = 'Sure!\n```json\n{"visual": "40%", "audio": "20%", "transcription": "30%", "metadata": "10%"}\n```'
    assert score_answer(REFERENCE, parse_decision(text)).score == 5


def test_writeup_model_answers(writeup_examples_path) -> None:
    """The write-up's answers: cut-off ones are unusable (1), valid ones score against themselves (5)."""
    for line in writeup_examples_path.read_text().splitlines():
        case = json.loads(line)
        parsed = parse_decision(case["answer"])
        if case["expect"] == "failure":
            assert score_answer(REFERENCE, parsed).score == 1
        else:
            reference = RoutingDecision.from_weights(case["weights"])
            assert score_answer(reference, parsed).score == 5


def test_modality_mismatch_is_a_programming_error() -> None:
    other = RoutingDecision.from_weights({"visual": 0.5, "mood": 0.5}, modalities=("visual", "mood"))
    with pytest.raises(ValueError, match="modalities"):
        score_decision(REFERENCE, other)
