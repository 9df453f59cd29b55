"""The gold set's rules (routing.gold): its parser numbers every bad line, its place, the leak filter."""

from __future__ import annotations

import json

import pytest
from routing import example_from_dict
from routing.errors import GoldSetInvalid
from routing.gold import (
    MAX_GOLD_EXAMPLES,
    MAX_REPORTED_LINES,
    gold_uri_problem,
    keep_out,
    parse_gold,
    queries_of,
)

MODALITIES = ("visual", "audio", "transcription", "metadata")


def line(query: str, **weights: float) -> str:
    return json.dumps({"query": query, "visual": 1, "audio": 1, "transcription": 1, "metadata": 1, **weights})


def test_a_gold_set_is_read_with_the_datasets_parser() -> None:
    text = line("a goal in the last minute", visual=6) + "\n\n" + line("the crowd sings", audio=3) + "\n"
    examples = parse_gold(text, MODALITIES, "s3://b/imports/gold.jsonl")
    assert examples == [example_from_dict(json.loads(item), MODALITIES) for item in text.split("\n") if item]
    assert examples[0].decision.weights["visual"] == pytest.approx(6 / 9, abs=1e-3)  # any scale, normalised


def test_every_bad_line_is_numbered_and_the_count_says_how_many() -> None:
    text = "\n".join(["[1, 2]", *(f"{{bad {n}" for n in range(MAX_REPORTED_LINES + 2))])
    with pytest.raises(GoldSetInvalid) as raised:
        parse_gold(text, MODALITIES, "s3://b/imports/gold.jsonl")
    message = str(raised.value)
    assert f"{MAX_REPORTED_LINES + 3} lines are not distinct labelled examples" in message
    assert "line 1: example must be a JSON object" in message
    assert f"line {MAX_REPORTED_LINES}: " in message and "and 3 more" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no labelled examples"),
        ("\n".join(line(f"q {n}") for n in range(MAX_GOLD_EXAMPLES + 1)), "at most"),
    ],
)
def test_an_empty_or_oversized_gold_set_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(GoldSetInvalid, match=fragment):
        parse_gold(text, MODALITIES, "s3://b/imports/gold.jsonl")


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("s3://data/imports/gold.jsonl", True),
        ("s3://data/imports/people/gold-2026.jsonl", True),
        ("s3://data/imports/", False),
        ("s3://data/runs/r/dataset/holdout.jsonl", False),
        ("s3://other/imports/gold.jsonl", False),
        ("imports/gold.jsonl", False),
    ],
)
def test_a_gold_set_is_one_object_under_imports_of_the_data_bucket(uri: str, ok: bool) -> None:
    assert (gold_uri_problem(uri, "data") is None) is ok


def test_keep_out_drops_by_the_router_caches_rule() -> None:
    full_width = "\uff26\uff55\uff4c\uff4c width"  # "Full" in full-width letters
    examples = [
        example_from_dict(json.loads(line(query)), MODALITIES) for query in (full_width, "kept", "a  b")
    ]
    protected = queries_of(
        [example_from_dict(json.loads(line(q)), MODALITIES) for q in ("full WIDTH", " A B ")]
    )
    kept, dropped = keep_out(examples, protected)
    assert [example.query for example in kept] == ["kept"] and dropped == 2
