"""Property-based tests: the parser never raises, and what it accepts always honours the contract."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from routing import (
    DEFAULT_MODALITIES,
    MAX_REASONING_CHARS,
    ExamplesParseResult,
    LabelledExample,
    ParseResult,
    RoutingDecision,
    normalise_weights,
    parse_decision,
    parse_labelled_examples,
)

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WRAPPER_KEYS = ("video", "results", "data", "response", "output", "answer")

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda n: n not in ("reasoning", "query")
)
modality_sets = st.one_of(
    st.just(DEFAULT_MODALITIES),
    st.just((*DEFAULT_MODALITIES, "camera_angle", "mood")),
    st.lists(names, min_size=1, max_size=8, unique=True).map(tuple),
)
raw_weight = st.one_of(
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1, max_value=0, allow_nan=False),
)
reasonings = st.text(max_size=120)


@st.composite
def decisions(draw, modalities=None):
    mods = draw(modality_sets) if modalities is None else modalities
    raw = {name: draw(raw_weight) for name in mods}
    assume(max(raw.values()) > 0)
    return mods, RoutingDecision.from_weights(raw, draw(reasonings), mods)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["0.3", "30%", "1e999", "-5", "", " 0.2 "]),
)
json_keys = st.one_of(
    st.text(max_size=10), st.sampled_from([*DEFAULT_MODALITIES, "reasoning", "Visual", "weight", "query"])
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(json_keys, children, max_size=6),
    max_leaves=25,
)
json_tokens = st.lists(
    st.sampled_from(
        [
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            '"',
            '"visual"',
            '"audio"',
            '"transcription"',
            '"metadata"',
            '"reasoning"',
            "0.3",
            '"40%"',
            "true",
            "null",
            "NaN",
            "-1",
            "1e5",
            " ",
            "\n",
            "```json",
            "prose",
            "\\",
            "\\u00",
        ]
    ),
    max_size=40,
).map("".join)


def assert_contract(result: ParseResult, modalities: tuple[str, ...]) -> None:
    assert isinstance(result, ParseResult)
    if result.ok:
        assert result.error is None
        weights = result.decision.weights
        assert tuple(weights) == tuple(modalities)
        assert all(isinstance(w, float) and 0.0 <= w <= 1.0 for w in weights.values())
        assert round(sum(weights.values()), 9) == 1.0
        assert isinstance(result.decision.reasoning, str)
        assert len(result.decision.reasoning) <= MAX_REASONING_CHARS
    else:
        assert result.decision is None
        assert isinstance(result.error, str) and result.error
        assert not result.error.startswith("internal parser error"), result.error


# --------------------------------------------------------------------------- never raises


@PROPERTIES
@given(st.one_of(st.text(), json_tokens), modality_sets)
def test_arbitrary_text_never_raises(text, modalities):
    assert_contract(parse_decision(text, modalities), modalities)
    examples = parse_labelled_examples(text, modalities)
    assert isinstance(examples, ExamplesParseResult)
    assert all(isinstance(example, LabelledExample) for example in examples.examples)


@PROPERTIES
@given(json_values)
def test_arbitrary_json_values_never_raise(value):
    assert_contract(parse_decision(value), DEFAULT_MODALITIES)
    assert_contract(parse_decision(json.dumps(value)), DEFAULT_MODALITIES)
    assert_contract(parse_decision("Answer: ```json\n" + json.dumps(value) + "\n```"), DEFAULT_MODALITIES)
    assert isinstance(parse_labelled_examples(value), ExamplesParseResult)
    assert isinstance(parse_labelled_examples(json.dumps([value, value])), ExamplesParseResult)


@FEW
@given(st.one_of(st.integers(), st.floats(), st.binary(), st.tuples(st.integers()), st.sets(st.integers())))
def test_arbitrary_objects_never_raise(value):
    assert_contract(parse_decision(value), DEFAULT_MODALITIES)
    assert isinstance(parse_labelled_examples(value), ExamplesParseResult)


# --------------------------------------------------------------------------- accepted answers


@PROPERTIES
@given(decisions())
def test_valid_decisions_round_trip(case):
    modalities, decision = case
    result = parse_decision(json.dumps(decision.to_dict()), modalities)
    assert result.ok, result.error
    assert result.decision == decision
    assert result.repairs == ()
    assert normalise_weights(decision.weights, modalities) == dict(decision.weights)


prose = st.text(
    alphabet=st.characters(blacklist_characters="{}[]", blacklist_categories=("Cs",)), max_size=80
)


@st.composite
def wrapped(draw, text):
    style = draw(st.sampled_from(["prose", "fence", "glued fence", "fence and prose"]))
    before, after = draw(prose), draw(prose)
    if style == "prose":
        return f"{before}{text}{after}"
    if style == "fence":
        return f"```json\n{text}\n```"
    if style == "glued fence":
        return f"```json{text}```"
    return f"{before}\n```json\n{text}\n```\n{after}"


@PROPERTIES
@given(decisions(), st.data())
def test_prose_and_fences_around_an_answer_do_not_change_it(case, data):
    modalities, decision = case
    answer = data.draw(wrapped(json.dumps(decision.to_dict(), indent=data.draw(st.sampled_from([None, 2])))))
    result = parse_decision(answer, modalities)
    assert result.ok, (answer, result.error)
    assert result.decision == decision


@PROPERTIES
@given(
    decisions(),
    st.lists(st.sampled_from(["object", "list", "results", "sibling"]), min_size=1, max_size=4),
    st.data(),
)
def test_nesting_an_answer_does_not_change_it(case, layers, data):
    modalities, decision = case
    assume(not set(WRAPPER_KEYS) & set(modalities))
    value: object = decision.to_dict()
    for layer in layers:
        key = data.draw(st.sampled_from(WRAPPER_KEYS))
        if layer == "object":
            value = {key: value}
        elif layer == "list":
            value = [value]
        elif layer == "results":
            value = {"query": "q", key: [{"id": "1", **value}] if isinstance(value, dict) else [value]}
        else:
            value = {"status": "ok", "score": 3, key: value, "tags": ["a", "b"]}
    answer = data.draw(wrapped(json.dumps(value)))
    result = parse_decision(answer, modalities)
    assert result.ok, (answer, result.error)
    assert result.decision == decision


@PROPERTIES
@given(decisions(), st.data())
def test_answers_as_strings_and_percentages_give_the_same_weights(case, data):
    modalities, decision = case
    style = data.draw(st.sampled_from(["string", "percent", "scale"]))
    flat: dict[str, object] = dict(decision.weights)
    for name, weight in decision.weights.items():
        if style == "string":
            flat[name] = repr(weight)
        elif style == "percent":
            flat[name] = f"{weight * 100:.1f}%"
        else:
            flat[name] = round(weight * 100, 1)
    flat["reasoning"] = decision.reasoning
    result = parse_decision(json.dumps(flat), modalities)
    assert result.ok, result.error
    # Printing percentages to one decimal keeps every weight within 0.001 of the original.
    for name, weight in result.decision.weights.items():
        assert abs(weight - decision.weights[name]) <= 0.0015 * len(modalities)


@PROPERTIES
@given(decisions(), st.data())
def test_any_cut_off_answer_is_a_failure(case, data):
    modalities, decision = case
    text = json.dumps(decision.to_dict(), ensure_ascii=data.draw(st.booleans()))
    cut = data.draw(st.integers(min_value=1, max_value=len(text) - 1))
    answer = data.draw(st.sampled_from(["", "Sure:\n```json\n", "```json"])) + text[:cut]
    result = parse_decision(answer, modalities)
    assert not result.ok, answer
    assert "cut off" in result.error


# --------------------------------------------------------------------------- labelled examples

queries = st.text(min_size=1, max_size=60).map(str.strip).filter(bool)


@FEW
@given(modality_sets, st.data())
def test_labelled_examples_round_trip(modalities, data):
    count = data.draw(st.integers(min_value=1, max_value=8))
    examples = [
        LabelledExample(data.draw(queries), data.draw(decisions(modalities))[1]) for _ in range(count)
    ]
    answer = data.draw(wrapped(json.dumps([example.to_dict() for example in examples])))
    result = parse_labelled_examples(answer, modalities)
    assert result.examples == examples
    assert result.dropped == 0


@FEW
@given(modality_sets, st.data())
def test_a_cut_off_batch_keeps_only_complete_items(modalities, data):
    examples = [LabelledExample(f"query {i}", data.draw(decisions(modalities))[1]) for i in range(4)]
    text = json.dumps({"examples": [example.to_dict() for example in examples]})
    cut = data.draw(st.integers(min_value=1, max_value=len(text) - 3))
    result = parse_labelled_examples(text[:cut], modalities)
    assert result.examples == examples[: len(result.examples)]
    assert result.dropped <= 1
