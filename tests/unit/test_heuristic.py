"""The keyword-cue fallback: cue families, custom modalities, determinism and speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from routing import DEFAULT_MODALITIES, RoutingDecision, heuristic_decision, normalise_weights

CUSTOM = (*DEFAULT_MODALITIES, "camera_angle", "mood")
CASE_FILES = (
    Path(__file__).parent / "data" / "model_answers_writeup.jsonl",
    Path(__file__).parent / "data" / "model_answers_extra.jsonl",
)


@pytest.mark.parametrize(
    ("query", "dominant"),
    [
        # transcription: what is said
        ("Olivia talking about growing up in poverty", "transcription"),
        ("CEO discussing quarterly earnings", "transcription"),
        ("interview with a marine biologist", "transcription"),
        ("the president says we will win", "transcription"),
        ("famous speech on civil rights", "transcription"),
        ("professor explains black holes", "transcription"),
        ("lecture on medieval history", "transcription"),
        ("podcast on productivity", "transcription"),
        ("quote from the keynote about privacy", "transcription"),
        ('someone saying "never gonna give you up"', "transcription"),
        # audio: what is heard
        ("sound of waves on a beach", "audio"),
        ("dog barking at night", "audio"),
        ("music playing in a cafe", "audio"),
        ("song with a catchy chorus", "audio"),
        ("loud applause after the show", "audio"),
        ("noise of a jackhammer", "audio"),
        ("birdsong in the morning", "audio"),
        # visual: what is seen
        ("red car parked outside", "visual"),
        ("sunset over mountains", "visual"),
        ("woman wearing a yellow raincoat", "visual"),
        ("company logo on a truck", "visual"),
        ("aerial shot of a city skyline", "visual"),
        ("close-up of a hummingbird in slow motion", "visual"),
        ("kids jumping into a lake", "visual"),
        # metadata: facts about the file
        ("uploaded last week", "metadata"),
        ("filmed in 2019", "metadata"),
        ("videos with 4k resolution", "metadata"),
        ("duration under 5 minutes", "metadata"),
        ("holiday_clip.mp4", "metadata"),
        ("documentary by Ken Burns", "metadata"),
        ("episode 3 of the series", "metadata"),
        ("shot on a gopro camera", "metadata"),
        ("recorded on 2021-06-14", "metadata"),
    ],
)
def test_each_cue_family_drives_its_modality(query, dominant):
    decision = heuristic_decision(query)
    assert decision.dominant == dominant, decision.reasoning


def test_no_cue_falls_back_to_a_visual_leaning_prior():
    decision = heuristic_decision("giraffe")
    assert decision.dominant == "visual"
    assert dict(decision.weights) == {"visual": 0.4, "audio": 0.15, "transcription": 0.25, "metadata": 0.2}
    assert decision.reasoning == "heuristic: no cues matched; prior favours visual"


def test_reasoning_names_the_cues_found_in_query_order():
    decision = heuristic_decision("Olivia talking about music she uploaded in 2019")
    assert decision.reasoning == (
        "heuristic: matched 'talking about' -> transcription, 'music' -> audio, "
        "'uploaded' -> metadata, a year -> metadata"
    )
    many = heuristic_decision("red blue green yellow orange purple pink black white grey brown")
    assert many.reasoning.endswith("(+3 more)")


def test_longest_phrase_wins():
    decision = heuristic_decision("shot of the sound of rain")
    assert "'shot of' -> visual" in decision.reasoning
    assert "'sound of' -> audio" in decision.reasoning


def test_repeated_cues_count_once():
    once = heuristic_decision("music")
    repeated = heuristic_decision("music music music music")
    assert once.weights == repeated.weights


def test_by_name_needs_a_capitalised_name():
    assert "'by <Name>'" in heuristic_decision("keynote by Satya Nadella").reasoning
    assert "'by <Name>'" not in heuristic_decision("picnic by the river").reasoning


def test_decisions_are_deterministic_and_normalised():
    queries = ["CEO discussing quarterly earnings", "", "sunset", "Beethoven symphony 1999 4k"]
    for query in queries:
        first = heuristic_decision(query)
        assert isinstance(first, RoutingDecision)
        assert all(heuristic_decision(query) == first for _ in range(5))
        assert round(sum(first.weights.values()), 9) == 1.0
        assert normalise_weights(first.weights) == dict(first.weights)
        assert first.reasoning.startswith("heuristic: ")


def test_case_and_punctuation_do_not_matter():
    assert heuristic_decision("DOG BARKING!!!").weights == heuristic_decision("dog barking").weights
    assert heuristic_decision("Q&A session").dominant == "transcription"


@pytest.mark.parametrize("query", [None, 42, b"bytes", "   ", "x" * 100_000, "\u0000\uffff"])
def test_any_query_gives_a_decision(query):
    decision = heuristic_decision(query)  # type: ignore[arg-type]
    assert list(decision.weights) == list(DEFAULT_MODALITIES)


def test_custom_modalities_get_a_small_share_and_their_name_as_a_cue():
    plain = heuristic_decision("sunset over mountains", CUSTOM)
    assert list(plain.weights) == list(CUSTOM)
    assert plain.dominant == "visual"
    assert 0.0 < plain.weights["mood"] < plain.weights["audio"]
    assert plain.weights["mood"] == plain.weights["camera_angle"]

    angle = heuristic_decision("unusual camera angle", CUSTOM)
    assert angle.dominant == "camera_angle"
    assert "'camera angle' -> camera_angle" in angle.reasoning

    mood = heuristic_decision("sad mood", CUSTOM)
    assert mood.dominant == "mood"


def test_a_custom_modality_name_is_matched_word_by_word():
    decision = heuristic_decision("clips with crowd noise level readings", ("noise_level", "visual"))
    assert decision.dominant == "noise_level"


def test_cues_for_modalities_outside_the_set_are_ignored():
    decision = heuristic_decision("dog barking", ("visual", "metadata"))
    assert list(decision.weights) == ["visual", "metadata"]
    assert "audio" not in decision.reasoning


def test_only_custom_modalities_start_uniform():
    decision = heuristic_decision("giraffe", ("mood", "camera_angle"))
    assert dict(decision.weights) == {"mood": 0.5, "camera_angle": 0.5}
    assert decision.reasoning == "heuristic: no cues matched; uniform prior"


def test_invalid_modalities_raise():
    with pytest.raises(ValueError):
        heuristic_decision("dog", ["Visual"])


def test_better_than_uniform_on_the_labelled_cases():
    cases = [
        json.loads(line) for path in CASE_FILES for line in path.read_text(encoding="utf-8").splitlines()
    ]
    references = [
        (case["query"], normalise_weights(case["weights"])) for case in cases if case["expect"] == "valid"
    ]
    heuristic_error = uniform_error = 0.0
    agree = 0
    for query, reference in references:
        decision = heuristic_decision(query)
        heuristic_error += sum(abs(decision.weights[m] - w) for m, w in reference.items()) / len(reference)
        uniform_error += sum(abs(0.25 - w) for w in reference.values()) / len(reference)
        agree += decision.dominant == max(reference, key=reference.__getitem__)
    assert heuristic_error < 0.6 * uniform_error
    assert agree / len(references) >= 0.75


def test_fast_enough_for_the_router():
    queries = [
        "CEO discussing quarterly earnings at the 2019 keynote",
        "sunset",
        "dog barking in 4k by Jane Doe",
    ]
    heuristic_decision(queries[0])  # build the tables once
    started = time.perf_counter()
    for _ in range(1_000):
        for query in queries:
            heuristic_decision(query)
    per_query = (time.perf_counter() - started) / 3_000
    assert per_query < 200e-6
