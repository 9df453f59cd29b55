"""The routing contract: modalities, prompt, normalisation and the decision types."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest
from routing import (
    DEFAULT_MODALITIES,
    MAX_MODALITIES,
    MAX_QUERY_CHARS,
    MAX_REASONING_CHARS,
    SEED_SYSTEM_PROMPT,
    WEIGHT_DECIMALS,
    LabelledExample,
    RoutingDecision,
    clean_reasoning,
    example_from_dict,
    normalise_query,
    normalise_weights,
    system_prompt,
    validate_modalities,
)

CUSTOM = (*DEFAULT_MODALITIES, "camera_angle", "mood")


# --------------------------------------------------------------------------- prompt and modalities


def test_seed_prompt_and_default_modalities_are_the_documented_ones():
    assert DEFAULT_MODALITIES == ("visual", "audio", "transcription", "metadata")
    assert SEED_SYSTEM_PROMPT == (
        "Return JSON with visual, audio, transcription, metadata weights (sum=1.0) "
        "and reasoning for the given video search query."
    )
    assert WEIGHT_DECIMALS == 3


def test_system_prompt_for_the_default_four_is_the_seed_text():
    assert system_prompt() == SEED_SYSTEM_PROMPT
    assert system_prompt(list(DEFAULT_MODALITIES)) == SEED_SYSTEM_PROMPT


def test_system_prompt_for_custom_modalities_uses_the_same_template():
    assert system_prompt(CUSTOM) == (
        "Return JSON with visual, audio, transcription, metadata, camera_angle, mood weights "
        "(sum=1.0) and reasoning for the given video search query."
    )
    assert system_prompt(["mood"]) == (
        "Return JSON with mood weights (sum=1.0) and reasoning for the given video search query."
    )


def test_system_prompt_rejects_invalid_modalities():
    with pytest.raises(ValueError):
        system_prompt(["visual", "visual"])


def test_validate_modalities_returns_a_tuple_in_order():
    assert validate_modalities(["mood", "visual"]) == ("mood", "visual")
    assert validate_modalities(DEFAULT_MODALITIES) is DEFAULT_MODALITIES
    assert validate_modalities(iter(CUSTOM)) == CUSTOM
    assert validate_modalities(["a" * 32]) == ("a" * 32,)
    assert validate_modalities([f"m{i}" for i in range(MAX_MODALITIES)])


@pytest.mark.parametrize(
    ("modalities", "message"),
    [
        ([], "empty"),
        ("visual", "single string"),
        (["Visual"], "lowercase identifier"),
        (["1audio"], "lowercase identifier"),
        (["camera-angle"], "lowercase identifier"),
        (["camera angle"], "lowercase identifier"),
        ([""], "lowercase identifier"),
        (["a" * 33], "lowercase identifier"),
        (["_hidden"], "lowercase identifier"),
        (["reasoning"], "reserved"),
        (["visual", "query"], "reserved"),
        (["visual", "audio", "visual"], "duplicate"),
        ([1, 2], "strings"),
        (None, "sequence"),
        ([f"m{i}" for i in range(MAX_MODALITIES + 1)], "at most"),
    ],
)
def test_validate_modalities_rejects_with_a_clear_message(modalities, message):
    with pytest.raises(ValueError, match=message):
        validate_modalities(modalities)


# --------------------------------------------------------------------------- normalise_weights


def test_normalise_weights_keeps_already_normalised_weights():
    raw = {"visual": 0.2, "audio": 0.1, "transcription": 0.6, "metadata": 0.1}
    assert normalise_weights(raw) == raw


def test_normalise_weights_orders_by_modalities_and_fills_missing_with_zero():
    result = normalise_weights({"metadata": 1, "visual": 3})
    assert list(result) == list(DEFAULT_MODALITIES)
    assert result == {"visual": 0.75, "audio": 0.0, "transcription": 0.0, "metadata": 0.25}


def test_normalise_weights_ignores_keys_that_are_not_modalities():
    flat = {"visual": 0.5, "audio": 0.5, "reasoning": "text is not a weight", "confidence": 9}
    assert normalise_weights(flat) == {"visual": 0.5, "audio": 0.5, "transcription": 0.0, "metadata": 0.0}


def test_normalise_weights_clips_negatives_and_rescales():
    assert normalise_weights({"visual": -1, "audio": 2, "transcription": 6, "metadata": 2}) == {
        "visual": 0.0,
        "audio": 0.2,
        "transcription": 0.6,
        "metadata": 0.2,
    }


def test_normalise_weights_pushes_the_rounding_residual_onto_the_largest_weight():
    thirds = normalise_weights({"visual": 1, "audio": 1, "transcription": 1, "metadata": 0})
    assert thirds == {"visual": 0.334, "audio": 0.333, "transcription": 0.333, "metadata": 0.0}
    sevenths = normalise_weights({"visual": 1, "audio": 1, "transcription": 2, "metadata": 3})
    assert sevenths == {"visual": 0.143, "audio": 0.143, "transcription": 0.286, "metadata": 0.428}
    assert round(sum(sevenths.values()), 9) == 1.0


def test_normalise_weights_result_sums_to_one_and_is_idempotent():
    raw = {"visual": 0.123456, "audio": 0.98765, "transcription": 1e-9, "metadata": 3.3}
    once = normalise_weights(raw)
    assert round(sum(once.values()), 9) == 1.0
    assert all(0.0 <= w <= 1.0 for w in once.values())
    assert all(w == round(w, WEIGHT_DECIMALS) for w in once.values())
    assert normalise_weights(once) == once


def test_normalise_weights_handles_extreme_magnitudes():
    huge = normalise_weights({"visual": 1e308, "audio": 1e308, "transcription": 0, "metadata": 0})
    assert huge == {"visual": 0.5, "audio": 0.5, "transcription": 0.0, "metadata": 0.0}
    tiny = normalise_weights({"visual": 5e-324, "audio": 0, "transcription": 0, "metadata": 0})
    assert tiny["visual"] == 1.0


def test_normalise_weights_never_returns_negative_zero():
    result = normalise_weights({"visual": 1.0, "audio": -0.0, "transcription": -5.0})
    assert all(str(w) != "-0.0" for w in result.values())


def test_normalise_weights_supports_custom_modalities():
    result = normalise_weights({"visual": 2, "mood": 1, "camera_angle": 1}, CUSTOM)
    assert list(result) == list(CUSTOM)
    assert result["visual"] == 0.5 and result["mood"] == 0.25 and result["camera_angle"] == 0.25


@pytest.mark.parametrize(
    "raw",
    [
        {"visual": 0, "audio": 0, "transcription": 0, "metadata": 0},
        {"visual": -1, "audio": -0.5},
        {},
        {"visual": True, "audio": 0.5},
        {"visual": float("nan"), "audio": 0.5},
        {"visual": float("inf"), "audio": 0.5},
        {"visual": "0.5", "audio": 0.5},
        {"visual": None, "audio": 0.5},
        {"visual": 10**400, "audio": 0.5},
    ],
)
def test_normalise_weights_rejects_unusable_input(raw):
    with pytest.raises(ValueError):
        normalise_weights(raw)


def test_normalise_weights_rejects_a_non_mapping():
    with pytest.raises(ValueError, match="mapping"):
        normalise_weights([0.5, 0.5])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- RoutingDecision


def _decision() -> RoutingDecision:
    return RoutingDecision.from_weights(
        {"transcription": 6, "visual": 2, "audio": 1, "metadata": 1}, "  spoken content  "
    )


def test_from_weights_normalises_orders_and_cleans_reasoning():
    decision = _decision()
    assert list(decision.weights) == list(DEFAULT_MODALITIES)
    assert dict(decision.weights) == {"visual": 0.2, "audio": 0.1, "transcription": 0.6, "metadata": 0.1}
    assert decision.reasoning == "spoken content"
    assert decision.modalities == DEFAULT_MODALITIES


def test_to_dict_is_the_flat_wire_shape():
    flat = _decision().to_dict()
    assert list(flat) == [*DEFAULT_MODALITIES, "reasoning"]
    assert flat == {
        "visual": 0.2,
        "audio": 0.1,
        "transcription": 0.6,
        "metadata": 0.1,
        "reasoning": "spoken content",
    }
    assert json.loads(json.dumps(flat)) == flat


def test_dominant_is_the_highest_weight_and_ties_go_to_modality_order():
    assert _decision().dominant == "transcription"
    tie = RoutingDecision.from_weights({"visual": 1, "audio": 2, "transcription": 2, "metadata": 1}, "")
    assert tie.weights["audio"] == tie.weights["transcription"]
    assert tie.dominant == "audio"
    reordered = RoutingDecision.from_weights({"audio": 1, "transcription": 1}, "", ("transcription", "audio"))
    assert reordered.dominant == "transcription"


def test_decision_is_immutable_hashable_and_comparable():
    decision = _decision()
    with pytest.raises(TypeError):
        decision.weights["visual"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        decision.weights.update(visual=1.0)  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.reasoning = "changed"  # type: ignore[misc]
    assert decision == _decision()
    assert hash(decision) == hash(_decision())
    assert decision != RoutingDecision.from_weights(decision.weights, "other reasoning")
    assert decision.weights == {"visual": 0.2, "audio": 0.1, "transcription": 0.6, "metadata": 0.1}


def test_decision_survives_copy_pickle_asdict_and_json():
    decision = _decision()
    assert copy.deepcopy(decision) == decision
    assert pickle.loads(pickle.dumps(decision)) == decision
    as_dict = dataclasses.asdict(decision)
    assert json.loads(json.dumps(as_dict)) == {
        "weights": dict(decision.weights),
        "reasoning": "spoken content",
    }


def test_constructor_accepts_normalised_weights_and_copies_them():
    source = {"visual": 0.5, "audio": 0.5}
    decision = RoutingDecision(source, "ok")
    source["visual"] = 0.9
    assert decision.weights == {"visual": 0.5, "audio": 0.5}


@pytest.mark.parametrize(
    ("weights", "reasoning", "message"),
    [
        ({"visual": 0.5, "audio": 0.4}, "", "sum to 1.0"),
        ({"visual": 1.5, "audio": -0.5}, "", r"\[0, 1\]"),
        ({"visual": True, "audio": 0.0}, "", "number"),
        ({"Visual": 1.0}, "", "lowercase identifier"),
        ({}, "", "empty"),
        ({"visual": 1.0}, None, "reasoning"),
        ([("visual", 1.0)], "", "mapping"),
    ],
)
def test_constructor_rejects_weights_that_are_not_normalised(weights, reasoning, message):
    with pytest.raises(ValueError, match=message):
        RoutingDecision(weights, reasoning)


def test_from_weights_with_custom_modalities():
    decision = RoutingDecision.from_weights({"mood": 3, "camera_angle": 1}, "feel", CUSTOM)
    assert list(decision.to_dict()) == [*CUSTOM, "reasoning"]
    assert decision.dominant == "mood"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("  spaced out \n", "spaced out"),
        (42, "42"),
        (["Year is metadata.", " Party is visual. "], "Year is metadata. Party is visual."),
        ("x" * (MAX_REASONING_CHARS + 500), "x" * MAX_REASONING_CHARS),
        ("a" * (MAX_REASONING_CHARS - 1) + " b", "a" * (MAX_REASONING_CHARS - 1)),
    ],
)
def test_clean_reasoning(value, expected):
    assert clean_reasoning(value) == expected
    assert clean_reasoning(clean_reasoning(value)) == expected


def test_clean_reasoning_survives_a_hostile_str():
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert clean_reasoning(Hostile()) == ""


# --------------------------------------------------------------------------- labelled examples


def test_labelled_example_to_dict_puts_the_query_first():
    example = LabelledExample("Olivia talking about growing up", _decision())
    assert list(example.to_dict()) == ["query", *DEFAULT_MODALITIES, "reasoning"]
    assert example.to_dict()["query"] == "Olivia talking about growing up"


@pytest.mark.parametrize("query", ["", "   ", None, 3])
def test_labelled_example_requires_a_query(query):
    with pytest.raises(ValueError, match="query"):
        LabelledExample(query, _decision())


def test_example_from_dict_reads_the_labelled_jsonl_shape():
    line = {
        "query": "  sunset over mountains ",
        "visual": 0.8,
        "audio": 0,
        "transcription": 0,
        "metadata": 0.2,
        "reasoning": "scene",
        "id": "ex-001",
    }
    example = example_from_dict(line)
    assert example.query == "sunset over mountains"
    assert example.decision.to_dict() == {
        "visual": 0.8,
        "audio": 0.0,
        "transcription": 0.0,
        "metadata": 0.2,
        "reasoning": "scene",
    }
    assert example_from_dict(json.loads(json.dumps(example.to_dict()))) == example


def test_example_from_dict_normalises_weights_and_allows_missing_reasoning():
    example = example_from_dict(
        {"query": "q", "visual": 60, "audio": 20, "transcription": 10, "metadata": 10}
    )
    assert dict(example.decision.weights) == {
        "visual": 0.6,
        "audio": 0.2,
        "transcription": 0.1,
        "metadata": 0.1,
    }
    assert example.decision.reasoning == ""


def test_example_from_dict_with_custom_modalities():
    line = {
        "query": "moody close-up",
        "visual": 1,
        "audio": 0,
        "transcription": 0,
        "metadata": 0,
        "camera_angle": 1,
        "mood": 2,
    }
    example = example_from_dict(line, CUSTOM)
    assert example.decision.dominant == "mood"
    with pytest.raises(ValueError, match="camera_angle, mood"):
        example_from_dict({k: v for k, v in line.items() if k not in ("camera_angle", "mood")}, CUSTOM)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "JSON object"),
        ({"visual": 1, "audio": 0, "transcription": 0, "metadata": 0}, "query"),
        ({"query": 5, "visual": 1, "audio": 0, "transcription": 0, "metadata": 0}, "query"),
        ({"query": "  ", "visual": 1, "audio": 0, "transcription": 0, "metadata": 0}, "empty"),
        (
            {
                "query": "q" * (MAX_QUERY_CHARS + 1),
                "visual": 1,
                "audio": 0,
                "transcription": 0,
                "metadata": 0,
            },
            "longer",
        ),
        ({"query": "q", "visual": 1, "audio": 0, "transcription": 0}, "missing weights for metadata"),
        ({"query": "q", "visual": "0.5", "audio": 0.5, "transcription": 0, "metadata": 0}, "number"),
        ({"query": "q", "visual": True, "audio": 0.5, "transcription": 0, "metadata": 0}, "number"),
        ({"query": "q", "visual": -0.5, "audio": 1, "transcription": 0, "metadata": 0}, "negative"),
        ({"query": "q", "visual": float("nan"), "audio": 1, "transcription": 0, "metadata": 0}, "finite"),
        ({"query": "q", "visual": 0, "audio": 0, "transcription": 0, "metadata": 0}, "zero"),
    ],
)
def test_example_from_dict_rejects_with_a_reason(obj, message):
    with pytest.raises(ValueError, match=message):
        example_from_dict(obj)


# --------------------------------------------------------------------------- normalise_query


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Sunset   over\tMountains \n", "sunset over mountains"),
        ("\uff23\uff25\uff2f\u3000discussing", "ceo discussing"),  # full-width letters and space
        ("Straße interview", "strasse interview"),
        ("zero\u200bwidth\ufeff joiner", "zerowidth joiner"),
        ("\ufb01lm \u00bd hour", "film 1\u20442 hour"),  # compatibility ligature and fraction
        ("", ""),
    ],
)
def test_normalise_query(raw, expected):
    assert normalise_query(raw) == expected
    assert normalise_query(expected) == expected
