"""Parsing model answers and teacher batches: the shared examples, our own cases, edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from routing import (
    DEFAULT_MODALITIES,
    MAX_QUERY_CHARS,
    MAX_REASONING_CHARS,
    ExamplesParseResult,
    ParseResult,
    normalise_weights,
    parse_decision,
    parse_labelled_examples,
)
from routing.parser import MAX_ANSWER_CHARS, MAX_ERRORS, MAX_EXAMPLES_ANSWER_CHARS

WRITEUP_EXAMPLES = Path(__file__).parent / "data" / "model_answers_writeup.jsonl"
EXTRA_EXAMPLES = Path(__file__).parent / "data" / "model_answers_extra.jsonl"
CUSTOM = (*DEFAULT_MODALITIES, "camera_angle", "mood")


def _load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


SHARED_CASES = _load(WRITEUP_EXAMPLES)
EXTRA_CASES = _load(EXTRA_EXAMPLES)


def _case_id(case: dict) -> str:
    return f"{case['expect']}: {case['origin'][:60]}"


def test_case_files_are_complete():
    assert len(SHARED_CASES) == 6
    assert len(EXTRA_CASES) >= 40
    for case in SHARED_CASES + EXTRA_CASES:
        assert set(case) >= {"query", "answer", "expect", "origin"}
        assert case["expect"] in ("valid", "failure")
        assert ("weights" in case) == (case["expect"] == "valid")
    assert sum(case["expect"] == "failure" for case in EXTRA_CASES) >= 15


@pytest.mark.parametrize(
    "case", SHARED_CASES + EXTRA_CASES, ids=[_case_id(c) for c in SHARED_CASES + EXTRA_CASES]
)
def test_model_answer(case):
    result = parse_decision(case["answer"])
    if case["expect"] == "valid":
        assert result.ok, result.error
        assert result.error is None
        assert list(result.decision.weights) == list(DEFAULT_MODALITIES)
        assert dict(result.decision.weights) == pytest.approx(normalise_weights(case["weights"]), abs=1e-9)
    else:
        assert not result.ok
        assert result.decision is None
        assert isinstance(result.error, str) and result.error


# --------------------------------------------------------------------------- decisions


def test_shared_examples_keep_the_model_reasoning():
    result = parse_decision(SHARED_CASES[0]["answer"])
    assert result.decision.reasoning.startswith("The query focuses on spoken content")
    assert result.repairs == ()


def test_cut_off_answers_say_so():
    result = parse_decision(SHARED_CASES[3]["answer"])
    assert "cut off" in result.error


def test_reasoning_is_taken_from_the_nearest_enclosing_object():
    answer = json.dumps(
        {"reasoning": "outer", "data": {"weights": {"visual": 1, "audio": 1}, "explanation": "inner"}}
    )
    assert parse_decision(answer).decision.reasoning == "inner"
    answer = json.dumps({"reasoning": "outer", "data": {"weights": {"visual": 1, "audio": 1}}})
    assert parse_decision(answer).decision.reasoning == "outer"


def test_reasoning_is_trimmed_capped_and_coerced():
    long = {"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": "  " + "r" * 5000}
    assert parse_decision(json.dumps(long)).decision.reasoning == "r" * MAX_REASONING_CHARS
    numeric = {"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": 7}
    assert parse_decision(json.dumps(numeric)).decision.reasoning == "7"
    null = {"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": None}
    assert parse_decision(json.dumps(null)).decision.reasoning == ""


@pytest.mark.parametrize(
    ("answer", "repairs"),
    [
        ('{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}', ()),
        ('```json\n{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}\n```', ("code_fence",)),
        ('Here: {"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}', ("extra_text",)),
        ('{"visual": 0.5, "audio": 0.5, "transcription": 0}', ("missing:metadata",)),
        ('{"visual": "50%", "audio": "50%", "transcription": 0, "metadata": 0}', ("percent",)),
        ('{"visual": 50, "audio": 50, "transcription": 0, "metadata": 0}', ("percent_scale",)),
        ('{"visual": 5, "audio": 5, "transcription": 0, "metadata": 0}', ("percent_scale", "rescaled")),
        ('{"visual": -1, "audio": 1, "transcription": 0, "metadata": 0}', ("clipped:visual",)),
        ('{"r": {"visual": 1, "audio": 0, "transcription": 0, "metadata": 0}}', ("nested",)),
    ],
)
def test_repairs_are_reported(answer, repairs):
    result = parse_decision(answer)
    assert result.ok
    assert result.repairs == repairs


def test_half_of_the_modalities_is_enough_fewer_is_a_failure():
    two = parse_decision('{"visual": 0.7, "audio": 0.3}')
    assert two.ok
    assert dict(two.decision.weights) == {"visual": 0.7, "audio": 0.3, "transcription": 0.0, "metadata": 0.0}
    one = parse_decision('{"visual": 1.0, "reasoning": "only visual"}')
    assert not one.ok
    assert "only 1 of 4" in one.error


def test_the_first_object_carrying_the_keys_decides():
    # A later valid object does not rescue an invalid first answer: the model was off format.
    answer = '{"visual": "high", "audio": "low", "transcription": "low", "metadata": "low"} {"visual": 1, "audio": 0}'
    result = parse_decision(answer)
    assert not result.ok
    assert "not a number" in result.error
    # Objects without enough modality keys are passed over.
    answer = '{"status": "ok"} [1, 2] {"visual": 1} {"visual": 0.4, "audio": 0.6}'
    result = parse_decision(answer)
    assert result.ok
    assert result.decision.dominant == "audio"


def test_exact_keys_win_over_case_variants():
    answer = '{"Visual": 0.9, "visual": 0.1, "audio": 0.9, "transcription": 0, "metadata": 0}'
    assert parse_decision(answer).decision.weights["visual"] == 0.1


@pytest.mark.parametrize(
    "answer",
    [
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0, "reasoning": "cut',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0,',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0, "reasoning": "a\\',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0, "reasoning": "\\u00',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 1e',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": tru',
        '{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": -',
        '[{"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}',
        '{"video": {"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}  \n',
        "Answer:\n```json\n{",
    ],
)
def test_an_answer_cut_off_anywhere_is_a_failure(answer):
    result = parse_decision(answer)
    assert not result.ok
    assert "cut off" in result.error


def test_a_malformed_outer_object_with_a_complete_inner_answer_is_repaired():
    # Not cut off (the fence was closed), just a missing brace: the inner object is complete.
    answer = '```json\n{"video": {"visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0}\n```'
    result = parse_decision(answer)
    assert result.ok
    assert result.decision.weights["visual"] == 0.5


@pytest.mark.parametrize(
    "answer",
    [None, 42, 3.5, object(), ["not", "weights"], {"no": "weights"}, b"\xff\xfe", bytearray(b"{")],
)
def test_non_text_answers_are_failures(answer):
    result = parse_decision(answer)
    assert isinstance(result, ParseResult)
    assert not result.ok and result.error


def test_bytes_and_decoded_json_are_accepted():
    answer = {"visual": 0.3, "audio": 0.7, "transcription": 0, "metadata": 0, "reasoning": "heard"}
    assert parse_decision(json.dumps(answer).encode()).decision.dominant == "audio"
    assert parse_decision(answer).decision.reasoning == "heard"
    assert parse_decision([{"wrapped": answer}]).decision.dominant == "audio"


def test_invalid_modalities_are_a_failure_not_an_exception():
    result = parse_decision('{"visual": 1}', ["visual", "visual"])
    assert not result.ok
    assert "invalid modalities" in result.error


def test_custom_modalities():
    answer = json.dumps(
        {
            "visual": 0.3,
            "audio": 0.1,
            "transcription": 0.1,
            "metadata": 0.1,
            "camera_angle": 0.3,
            "mood": 0.1,
            "reasoning": "low angle",
        }
    )
    result = parse_decision(answer, CUSTOM)
    assert result.ok
    assert list(result.decision.to_dict()) == [*CUSTOM, "reasoning"]
    assert result.decision.weights["camera_angle"] == 0.3
    assert result.decision.dominant == "visual"  # tie with camera_angle goes to modality order
    # The default four alone: the custom keys are just extra keys.
    assert list(parse_decision(answer).decision.weights) == list(DEFAULT_MODALITIES)
    # Half of six modalities (three) is enough; the rest count as zero.
    three = parse_decision('{"visual": 0.2, "mood": 0.6, "camera_angle": 0.2}', CUSTOM)
    assert three.ok and three.decision.dominant == "mood"
    assert "missing:audio" in three.repairs
    two = parse_decision('{"mood": 0.6, "camera_angle": 0.4}', CUSTOM)
    assert not two.ok and "at least 3" in two.error


def test_only_mood_and_camera_angle():
    result = parse_decision('Here you go: {"mood": "70%", "camera_angle": "30%"}', ("mood", "camera_angle"))
    assert dict(result.decision.weights) == {"mood": 0.7, "camera_angle": 0.3}


def test_huge_answers_are_bounded(monkeypatch):
    # Work is counted (characters the JSON decoder reads), not timed: a loaded CI machine is slow, never wrong.
    answer = json.dumps({"visual": 1, "audio": 0, "transcription": 0, "metadata": 0}) + " " + "x" * 5_000_000
    result, read = _parse_counting(monkeypatch, parse_decision, answer)
    assert result.ok
    assert read <= _work_bound(answer, MAX_ANSWER_CHARS)
    cut_by_the_cap = (
        '{"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": "'
        + "y" * MAX_ANSWER_CHARS
        + '"}'
    )
    result, read = _parse_counting(monkeypatch, parse_decision, cut_by_the_cap)
    assert not result.ok and "longer than" in result.error
    assert read <= _work_bound(cut_by_the_cap, MAX_ANSWER_CHARS)


@pytest.mark.parametrize(
    "answer",
    [
        "{" * 100_000,
        "[" * 200_000,
        '{"a":' * 50_000,
        '[{"a":' * 30_000,
        ('{"' + "k" * 80 + '":') * 1_100 + "x",
        '{"' * 50_000,
        "[" + "0," * 60_000,
        '{"x": 1} ' * 20_000,
        "{x} " * 50_000,
        '["[", ' * 30_000,
        "[" + "1" * 99_000 + "]",
        '"' + "\\" * 100_000,
    ],
    ids=lambda answer: repr(answer[:12]),
)
def test_adversarial_answers_are_fast_failures(answer, monkeypatch):
    decision, decision_read = _parse_counting(monkeypatch, parse_decision, answer)
    examples, examples_read = _parse_counting(monkeypatch, parse_labelled_examples, answer)
    assert decision_read <= _work_bound(answer, MAX_ANSWER_CHARS)
    assert examples_read <= _work_bound(answer, MAX_EXAMPLES_ANSWER_CHARS)
    assert not decision.ok
    assert examples.examples == []


def _parse_counting(monkeypatch, parse, answer: str):
    """`parse(answer)` and the characters the parser's JSON decoder read meanwhile."""
    import routing.parser as parser

    counting = _CountingDecoder(parser._DECODER)
    with monkeypatch.context() as patch:
        patch.setattr(parser, "_DECODER", counting)
        result = parse(answer)
    return result, counting.read


def _work_bound(answer: str, cap: int) -> int:
    """The parser's own bound: SCAN_WORK_FACTOR reads of what it scans, with slack for the final decodes."""
    import routing.parser as parser

    return (parser.SCAN_WORK_FACTOR + 2) * min(len(answer), cap) + 10_000


# --------------------------------------------------------------------------- labelled examples


def _item(query: str, **weights: object) -> dict:
    base: dict = {
        "query": query,
        "visual": 0.4,
        "audio": 0.1,
        "transcription": 0.4,
        "metadata": 0.1,
        "reasoning": f"why {query}",
    }
    base.update(weights)
    return base


ITEMS = [_item(f"query {i}") for i in range(5)]


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(ITEMS),
        json.dumps(ITEMS, indent=2),
        "Here are 5 examples:\n```json\n" + json.dumps(ITEMS) + "\n```\nLet me know if you need more.",
        "```json" + json.dumps(ITEMS) + "```",
        json.dumps({"examples": ITEMS}),
        json.dumps({"data": {"batch": 1, "items": ITEMS}}),
        "\n".join(json.dumps(item) for item in ITEMS),
        json.dumps(ITEMS)[:-1] + ",]",
    ],
    ids=[
        "array",
        "indented",
        "prose+fence",
        "glued fence",
        "wrapped",
        "deeper",
        "json lines",
        "trailing comma",
    ],
)
def test_labelled_examples_in_every_wrapping(answer):
    result = parse_labelled_examples(answer)
    assert isinstance(result, ExamplesParseResult)
    assert [example.query for example in result.examples] == [f"query {i}" for i in range(5)]
    assert result.dropped == 0
    assert result.errors == []
    first = result.examples[0]
    assert first.decision.reasoning == "why query 0"
    assert first.to_dict() == {**_item("query 0"), "visual": 0.4, "transcription": 0.4}


def test_cut_off_batch_keeps_the_complete_items_and_drops_the_cut_one():
    answer = "```json\n" + json.dumps({"examples": ITEMS})
    cut = answer[: answer.index('"query 4"') + 20]
    result = parse_labelled_examples(cut)
    assert [example.query for example in result.examples] == [f"query {i}" for i in range(4)]
    assert result.dropped == 1
    assert any("cut off" in error for error in result.errors)


def test_invalid_items_are_dropped_and_counted():
    items = [
        ITEMS[0],
        {"visual": 1, "audio": 0},
        "a string",
        _item(""),
        _item("q" * (MAX_QUERY_CHARS + 1)),
        _item("booleans", visual=True),
        _item("nothing", visual=0, audio=0, transcription=0, metadata=0),
        _item("one key", audio=None, transcription=None, metadata=None),
        _item("percent strings", visual="50%", audio="50%", transcription="0", metadata="0"),
        {"query": "nested weights", "weights": {"visual": 1, "audio": 3}, "reasoning": "sound"},
    ]
    result = parse_labelled_examples(json.dumps(items))
    assert [example.query for example in result.examples] == ["query 0", "percent strings", "nested weights"]
    assert result.examples[2].decision.dominant == "audio"
    assert result.dropped == 7
    assert len(result.errors) == 7
    assert result.errors[0].startswith("item 1:")


def test_errors_are_capped():
    items = [{"query": f"bad {i}", "visual": "?"} for i in range(100)] + [ITEMS[0]]
    result = parse_labelled_examples(json.dumps(items))
    assert len(result.examples) == 1
    assert result.dropped == 100
    assert len(result.errors) == MAX_ERRORS


def test_labelled_examples_with_custom_modalities():
    item = {
        "query": "tense low-angle chase",
        "visual": 0.3,
        "audio": 0.1,
        "transcription": 0,
        "metadata": 0,
        "camera_angle": 0.3,
        "mood": 0.3,
    }
    result = parse_labelled_examples(json.dumps([item]), CUSTOM)
    assert list(result.examples[0].to_dict()) == ["query", *CUSTOM, "reasoning"]


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I cannot generate examples.",
        '{"visual": 1, "audio": 0}',
        "[1, 2, 3]",
        None,
        7,
        '[{"no_query": 1}]',
    ],
)
def test_no_examples_is_an_empty_result_with_a_reason(answer):
    result = parse_labelled_examples(answer)
    assert result.examples == []
    assert result.errors


def test_already_decoded_batches_are_accepted():
    assert len(parse_labelled_examples(ITEMS).examples) == 5
    assert len(parse_labelled_examples({"examples": ITEMS}).examples) == 5
    assert len(parse_labelled_examples(ITEMS[0]).examples) == 1


def test_invalid_modalities_for_examples_are_reported():
    result = parse_labelled_examples(json.dumps(ITEMS), ["reasoning"])
    assert result.examples == [] and "invalid modalities" in result.errors[0]


# --------------------------------------------------------------------------- hostile model text (issue 12)


def _runtime_encodes(value: object) -> bytes:
    """What the Lambda runtime does with a result: JSON with ensure_ascii=False, then UTF-8."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "escape", ["\\ud800", "\\udfff", "\\udc00\\ud800", "x\\ud83d", "\\ud83d\\ude00\\ud800"], ids=repr
)
def test_lone_surrogates_never_leave_the_parser(escape):
    weights = '"visual": 1, "audio": 0, "transcription": 0, "metadata": 0'
    decision = parse_decision(f'{{{weights}, "reasoning": "see {escape} here"}}')
    assert decision.ok
    _runtime_encodes(decision.decision.to_dict())
    assert "\ufffd" in decision.decision.reasoning
    listed = parse_decision(f'{{{weights}, "reasoning": ["a {escape}", ["b"]]}}')
    _runtime_encodes(listed.decision.to_dict())

    batch = parse_labelled_examples(
        f'[{{"query": "cat {escape} videos", {weights}, "reasoning": "{escape}"}}]'
    )
    (example,) = batch.examples
    _runtime_encodes(example.to_dict())
    assert example.query.startswith("cat ") and "\ufffd" in example.query


def test_a_valid_surrogate_pair_is_kept():
    decision = parse_decision('{"visual": 1, "reasoning": "smile \\ud83d\\ude00", "audio": 0}')
    assert decision.decision.reasoning == "smile \U0001f600"


@pytest.mark.parametrize("depth", [400, 900])
def test_deeply_nested_reasoning_is_flattened_without_recursion(depth):
    answer = (
        '{"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": '
        + "[" * depth
        + '"deep"'
        + "]" * depth
        + "}"
    )
    result = parse_decision(answer)
    assert result.ok, result.error
    assert result.decision.reasoning == "deep"


@pytest.mark.parametrize("depth", [400, 5_000])
def test_deep_nesting_is_a_parse_failure_never_an_internal_error(depth):
    for answer in ("[" * depth + '{"visual": 1}' + "]" * depth, '{"a": ' * depth + "1" + "}" * depth):
        for errors in (
            [parse_decision(answer).error],
            parse_labelled_examples(answer).errors,
        ):
            assert errors and not any("internal parser error" in error for error in errors)


class _CountingDecoder:
    """The parser's JSON decoder, counting the characters each decode attempt reads.

    json's scanner reads a value up to its end, or up to the error, except in a string that
    never closes: it searches for the closing quote to the end of the text (the error then
    names where the string began). Nesting beyond the recursion limit is charged in full.
    """

    def __init__(self, decoder: json.JSONDecoder) -> None:
        self._decoder = decoder
        self.read = 0

    def raw_decode(self, text: str, start: int):
        try:
            value, end = self._decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            unterminated = exc.msg.startswith("Unterminated string")
            self.read += (len(text) if unterminated else exc.pos + 1) - start
            raise
        except (RecursionError, ValueError):
            self.read += len(text) - start
            raise
        self.read += end - start
        return value, end

    def decode(self, text: str):
        self.read += len(text)
        return self._decoder.decode(text)


def _unterminated_after_brackets(size: int) -> str:
    return '{"a": ' * 1_000 + '"' + "a" * size


def _unterminated_items(size: int) -> str:
    return '["a", ' * 300 + '"' + "a" * size


def _open_arrays_then_string(size: int) -> str:
    return "[" * 100 + '"' + "a" * size


@pytest.mark.parametrize(
    "make",
    [_unterminated_after_brackets, _unterminated_items, _open_arrays_then_string],
    ids=lambda f: f.__name__,
)
def test_parsing_reads_each_answer_a_bounded_number_of_times(make, monkeypatch):
    """Work (characters the JSON decoder reads) is linear in the answer's length, counted, not timed."""
    import routing.parser as parser

    for size in (10_000, 1_000_000):
        answer = make(size)
        for parse in (parse_decision, parse_labelled_examples):
            counting = _CountingDecoder(parser._DECODER)
            monkeypatch.setattr(parser, "_DECODER", counting)
            parse(answer)
            monkeypatch.setattr(parser, "_DECODER", counting._decoder)
            read = min(len(answer), parser.MAX_EXAMPLES_ANSWER_CHARS)
            assert counting.read <= (parser.SCAN_WORK_FACTOR + 2) * read + 10_000, (parse.__name__, size)
