"""The tier-0 model's shared core: stable features, artifact checks, predictions that are always decisions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from routing import DEFAULT_MODALITIES, RoutingDecision
from routing.local_model import (
    FORMAT,
    MAX_WEIGHT,
    LocalModel,
    LocalModelInvalid,
    feature_buckets,
    load_local_model,
)


def model(rows: dict[int, tuple[float, ...]], support: int = 5) -> LocalModel:
    return LocalModel(
        DEFAULT_MODALITIES, 2**10, (1, 2), (0.0,) * len(DEFAULT_MODALITIES), rows,
        dict.fromkeys(rows, support), 3, {"examples": 10},
    )  # fmt: skip


def test_features_are_stable_across_processes_and_forms_of_the_same_query() -> None:
    # CRC-32, not hash(): the value is the same in every process (PYTHONHASHSEED does not matter).
    assert feature_buckets("Cat videos", 2**14) == feature_buckets("  CAT   videos ", 2**14)
    assert feature_buckets("cat videos", 2**14) == [15192, 9532, 5898]


def test_unigram_and_bigram_of_the_same_text_are_different_features() -> None:
    assert len(feature_buckets("a b", 2**20, (1, 2))) == 3


def test_a_known_word_with_a_strong_row_is_confident_and_an_unknown_one_is_not() -> None:
    (bucket,) = feature_buckets("podcast", 2**10, (1,))
    strong = model({bucket: (0.0, 6.0, 0.0, 0.0)})
    known = strong.predict("podcast")
    assert max(known.decision.weights, key=known.decision.weights.get) == DEFAULT_MODALITIES[1]
    assert known.confidence > 0.9 and known.known_share == 1.0
    unknown = strong.predict("sunset timelapse")
    assert unknown.confidence == 0.0 and unknown.known_share == 0.0


def test_rarely_seen_features_do_not_count_as_known() -> None:
    (bucket,) = feature_buckets("podcast", 2**10, (1,))
    assert model({bucket: (0.0, 6.0, 0.0, 0.0)}, support=1).predict("podcast").confidence == 0.0


@given(st.text(max_size=300))
def test_any_query_gets_a_valid_decision(query: str) -> None:
    (bucket,) = feature_buckets("news", 2**10, (1,))
    prediction = model({bucket: (1.0, -2.0, 0.5, 3.0)}).predict(query)
    assert isinstance(prediction.decision, RoutingDecision)
    assert 0.0 <= prediction.confidence <= 1.0


def test_an_artifact_round_trips() -> None:
    (bucket,) = feature_buckets("news", 2**10, (1,))
    original = model({bucket: (1.0, -2.0, 0.5, 3.0)})
    assert load_local_model(original.to_json()) == original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other/1"}, "not a vsr-local-model/1"),
        ({"buckets": 1000}, "power of two"),
        ({"bias": [0.0, 0.0]}, "bias must be a list of 4"),
        ({"rows": {"99999": [0, 0, 0, 0]}}, "not a bucket below"),
        ({"rows": {"1": [0, 0, 0, float("inf")]}}, "finite"),
        ({"ngrams": []}, "ngrams"),
        ({"modalities": ["Visual"]}, "modalities"),
    ],
)
def test_a_broken_artifact_is_refused_with_the_reason(change: dict, message: str) -> None:
    value = model({}).to_dict() | change
    with pytest.raises(LocalModelInvalid, match=message):
        load_local_model(json.dumps(value))


def test_an_artifact_whose_logits_could_overflow_is_refused_and_the_largest_accepted_still_predicts() -> None:
    # Finite but huge weights summed to inf, and the softmax's inf - inf gave NaN weights: predict raised
    # (in the router: a 500 for every query the model saw). Weights are bounded on load instead.
    words = " ".join(f"w{index}" for index in range(64))
    buckets = feature_buckets(words, 2**10)
    huge = model({}).to_dict() | {"rows": {str(bucket): [1e308, 0, 0, 0] for bucket in buckets}}
    with pytest.raises(LocalModelInvalid, match="at most 1e"):
        load_local_model(json.dumps(huge))
    limit = MAX_WEIGHT
    largest = model({bucket: (limit, -limit, limit, -limit) for bucket in buckets})
    assert load_local_model(largest.to_json()) == largest
    prediction = largest.predict(words)
    assert isinstance(prediction.decision, RoutingDecision) and 0.0 <= prediction.confidence <= 1.0


def test_not_json_is_refused() -> None:
    with pytest.raises(LocalModelInvalid, match="not JSON"):
        load_local_model("{")
    assert FORMAT == "vsr-local-model/1"
