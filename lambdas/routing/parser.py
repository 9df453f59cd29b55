"""Tolerant parsing of model answers into routing decisions.

Real models wrap their JSON in prose and code fences, nest it
(``{"video": {...}}``, ``{"results": [{...}]}``), write numbers as strings or
percentages, drop or add keys. This module repairs what can be repaired and
reports everything else as a parse failure: the public functions never raise,
whatever they are given, so the router can always fall back.

How an answer is read:

1. Candidates are complete JSON values decoded with ``json.JSONDecoder.raw_decode``
   from each ``{`` / ``[`` in the text, left to right; a decoded value's span is
   skipped as a whole. Work is bounded (``MAX_ANSWER_CHARS`` scanned,
   ``MAX_CANDIDATES`` start positions, ``MAX_NODES`` visited per value).
2. Only a complete JSON value is trusted. If the text ends inside a value (the
   answer was cut off, e.g. by the token limit) the answer is a failure, even if
   a complete inner object or some weights came before the cut.
3. Inside a value, the first object (pre-order, document order, any depth,
   including JSON encoded again inside a string) that carries at least half of
   the modality keys is the answer. Keys match case-insensitively and may carry a
   ``_weight`` suffix. If that object's weights are invalid the answer is a failure.
4. Missing-key rule: a modality absent from that object (or ``null``) counts as
   weight 0, as long as at least half of the modalities (rounded up) are present.
5. Weights: numbers; numeric strings (``"0.3"``); percentage strings (``"30%"``);
   per-modality objects with a ``weight``/``value``/``score`` number. Booleans,
   NaN, infinities and other strings are invalid. Percent detection: ``"30%"`` is
   always 0.30; plain numbers are read as a 0-100 scale when the largest of them
   is above 1 and at most 100 (this only matters when they are mixed with
   percentage strings, because the weights are rescaled to sum 1 anyway).
   Negative weights are clipped to 0; all-zero weights are a failure.
6. Reasoning comes from the carrier object's ``reasoning`` (or ``reason``,
   ``rationale``, ``explanation``, ``justification``) key, else from the nearest
   enclosing object that has one, else ``""``.

Every repair is recorded in ``ParseResult.repairs`` so the evaluator can tell a
clean answer from a repaired one (the rubric scores missing keys as 1).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .contract import (
    DEFAULT_MODALITIES,
    MAX_QUERY_CHARS,
    LabelledExample,
    RoutingDecision,
    validate_modalities,
)

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_CANDIDATES",
    "MAX_ERRORS",
    "MAX_EXAMPLES_ANSWER_CHARS",
    "ExamplesParseResult",
    "ParseResult",
    "parse_decision",
    "parse_labelled_examples",
]

# A router answer is a few hundred characters; anything past this is not an answer.
MAX_ANSWER_CHARS = 100_000
# A teacher batch (tens of examples at a few hundred characters each) fits many times.
MAX_EXAMPLES_ANSWER_CHARS = 2_000_000
# Start positions tried per answer, and characters that failed decode attempts may
# read in total (a multiple of the answer's length): together they keep adversarial
# input (deep nesting, thousands of unclosed brackets) linear instead of quadratic.
MAX_CANDIDATES = 1_000
SCAN_WORK_FACTOR = 8
# JSON nodes visited when searching one decoded value.
MAX_NODES = 20_000
# JSON found again inside a string (double-encoded answers) is decoded this deep.
MAX_STRING_JSON_DEPTH = 2
MAX_ERRORS = 20

_DECODER = json.JSONDecoder(strict=False)  # literal newlines inside strings are common
_START = re.compile(r"[\[{]")
_BRACKET_RUN = re.compile(r"[\[{\s]+")
# What may follow the error position when the text simply stopped inside a value:
# nothing, or a number, literal or \u escape (pair) cut short.
_CUT_TAIL = re.compile(
    r"""(?:\.\d*)?(?:[eE][-+]?\d*)?
      | -?(?:I(?:n(?:f(?:i(?:n(?:i(?:t)?)?)?)?)?)?)?
      | t(?:r(?:u)?)? | f(?:a(?:l(?:s)?)?)? | n(?:u(?:l)?)? | N(?:a)?
      | u[0-9a-fA-F]{0,4}(?:\\(?:u[0-9a-fA-F]{0,3})?)?  # in a \uXXXX escape or surrogate pair""",
    re.VERBOSE,
)
_NUMBER_TEXT = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)")
_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_REASONING_KEYS = ("reasoning", "reason", "rationale", "explanation", "justification")
_WEIGHT_KEYS = ("weight", "value", "score")
_WEIGHT_SUFFIX = "_weight"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Outcome of parsing one model answer: a decision, or the reason there is none.

    ``repairs`` lists what had to be fixed to read a successful answer
    (``"extra_text"``, ``"code_fence"``, ``"nested"``, ``"string_number"``,
    ``"percent"``, ``"percent_scale"``, ``"missing:<modality>"``,
    ``"clipped:<modality>"``, ``"rescaled"``, ``"string_json"``); empty for a
    clean JSON answer.
    """

    decision: RoutingDecision | None
    error: str | None
    repairs: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.decision is not None


@dataclass(frozen=True, slots=True)
class ExamplesParseResult:
    """Outcome of parsing a teacher's batch of labelled examples.

    ``dropped`` counts items that could not be used (including one item cut off by
    the end of the answer); ``errors`` holds the first MAX_ERRORS reasons.
    """

    examples: list[LabelledExample] = field(default_factory=list)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


class _Failure(Exception):
    """A reason to reject an answer; never escapes this module."""


# Scan events are plain slotted classes: a dataclass costs import time for no benefit here.
class _Value:
    __slots__ = ("end", "start", "value")

    def __init__(self, start: int, end: int, value: Any) -> None:
        self.start, self.end, self.value = start, end, value


class _Cut:
    __slots__ = ("start",)

    def __init__(self, start: int) -> None:
        self.start = start


class _GaveUp:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


# --------------------------------------------------------------------------- scanning


def _as_text(text: object, limit: int) -> tuple[str | None, bool, str | None]:
    """(text, was_capped, error) for answer-like input."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text[: limit * 4]).decode("utf-8", "replace")
    if not isinstance(text, str):
        return None, False, f"answer is not text (got {type(text).__name__})"
    if len(text) > limit:
        return text[:limit], True, None
    return text, False, None


def _is_cut_off(text: str, exc: json.JSONDecodeError) -> bool:
    """True when decoding failed only because the text ended inside the value."""
    if exc.msg.startswith("Unterminated string"):
        return True
    tail = text[exc.pos :].rstrip()
    return len(tail) <= 12 and _CUT_TAIL.fullmatch(tail) is not None


def _scan(text: str) -> Iterator[_Value | _Cut | _GaveUp]:
    """Yield complete top-level JSON values and cut-off points, left to right.

    Ends with a _GaveUp event if the work bounds were reached first.
    """
    pos = 0
    budget = SCAN_WORK_FACTOR * len(text) + 4_096
    for _ in range(MAX_CANDIDATES):
        match = _START.search(text, pos)
        if match is None:
            return
        start = match.start()
        if budget <= 0:
            break
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            # The decoder read up to the error, except in an unterminated string: it looked for
            # the closing quote up to the end of the text (the error names where the string began).
            unterminated = exc.msg.startswith("Unterminated string")
            budget -= (len(text) if unterminated else exc.pos + 1) - start
            if _is_cut_off(text, exc):
                yield _Cut(start)
            pos = start + 1
            continue
        except RecursionError:
            # Nesting deeper than the decoder allows. Where it failed is unknown, so
            # charge the rest of the text; every start inside the same bracket run
            # fails the same way, so the next try is its innermost bracket.
            budget -= len(text) - start
            run_end = _BRACKET_RUN.match(text, start).end()
            pos = max(start + 1, run_end - 1)
            continue
        except ValueError:  # e.g. an integer beyond the int-from-string digit limit
            budget -= len(text) - start
            pos = start + 1
            continue
        yield _Value(start, end, value)
        pos = end
    yield _GaveUp(f"gave up scanning after {MAX_CANDIDATES} candidate positions or the work limit")


def _extra_text_repair(text: str, start: int, end: int) -> str | None:
    outside = text[:start] + text[end:]
    if not outside.strip():
        return None
    return "code_fence" if not _FENCE.sub("", outside).strip() else "extra_text"


# --------------------------------------------------------------------------- weights


def _modality_entries(obj: Mapping[Any, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Modality -> raw value for the keys of ``obj`` that name a modality (null = absent)."""
    wanted = set(names)
    found: dict[str, Any] = {}
    exact: set[str] = set()
    for key, value in obj.items():
        if not isinstance(key, str) or value is None:
            continue
        folded = key.strip().lower()
        if folded not in wanted and folded.endswith(_WEIGHT_SUFFIX):
            folded = folded[: -len(_WEIGHT_SUFFIX)]
        if folded not in wanted or folded in exact:
            continue
        found[folded] = value
        if key == folded:  # an exact key wins over "Visual" or "visual_weight"
            exact.add(folded)
    return found


def _coerce_weight(value: Any, name: str, repairs: set[str], nested: bool = False) -> tuple[float, bool]:
    """(number, is_percentage) for one raw weight; raises _Failure when unusable."""
    if isinstance(value, bool):
        raise _Failure(f"weight for {name!r} is a boolean, not a number")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise _Failure(f"weight for {name!r} is too large") from None
        percent = False
    elif isinstance(value, str):
        match = _NUMBER_TEXT.fullmatch(value.strip())
        if match is None:
            raise _Failure(f"weight for {name!r} is not a number: {value[:40]!r}")
        number = float(match.group(1))
        percent = bool(match.group(2))
        repairs.add("percent" if percent else "string_number")
    elif isinstance(value, Mapping) and not nested:
        for key in _WEIGHT_KEYS:
            inner = next((v for k, v in value.items() if isinstance(k, str) and k.lower() == key), None)
            if inner is not None:
                return _coerce_weight(inner, name, repairs, nested=True)
        raise _Failure(f"weight for {name!r} is an object without a weight")
    else:
        raise _Failure(f"weight for {name!r} is not a number ({type(value).__name__})")
    if not math.isfinite(number):
        raise _Failure(f"weight for {name!r} is not a finite number")
    return number, percent


def _weights_from(entries: dict[str, Any], names: tuple[str, ...], repairs: set[str]) -> dict[str, float]:
    coerced = {name: _coerce_weight(entries[name], name, repairs) for name in names if name in entries}
    plain = [number for number, percent in coerced.values() if not percent]
    # Whole numbers up to 100 next to "30%" strings are percentages too.
    plain_scale = 100.0 if plain and 1.0 < max(plain) <= 100.0 else 1.0
    if plain_scale != 1.0:
        repairs.add("percent_scale")
    weights: dict[str, float] = {}
    for name in names:
        if name not in coerced:
            repairs.add(f"missing:{name}")
            weights[name] = 0.0
            continue
        number, percent = coerced[name]
        if number < 0.0:
            repairs.add(f"clipped:{name}")
            number = 0.0
        weights[name] = number / (100.0 if percent else plain_scale)
    total = math.fsum(weights.values())
    if total <= 0.0:
        raise _Failure("all weights are zero")
    if abs(total - 1.0) > 0.01:
        repairs.add("rescaled")
    return weights


def _reasoning_of(obj: Mapping[Any, Any], names: tuple[str, ...]) -> Any:
    """The object's reasoning: "reasoning" first, then its aliases (unless one is a modality)."""
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, str) and value is not None:
            folded = key.strip().lower()
            if folded in _REASONING_KEYS and folded not in names:
                found.setdefault(folded, value)
    return next((found[key] for key in _REASONING_KEYS if key in found), None)


def _decision_in(
    value: Any, names: tuple[str, ...], repairs: set[str]
) -> tuple[RoutingDecision | None, str | None]:
    """Search one decoded JSON value for its decision.

    Returns (decision, None) when found; (None, reason) when the first carrier
    is invalid (raised as _Failure) or nothing usable was found (reason may be a
    near miss worth reporting, or None).
    """
    required = (len(names) + 1) // 2
    near_miss: str | None = None
    # Stack of (node, reasoning inherited from enclosing objects, depth, string-JSON depth).
    stack: list[tuple[Any, Any, int, int]] = [(value, None, 0, 0)]
    visited = 0
    while stack:
        node, inherited, depth, string_depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            break
        if isinstance(node, Mapping):
            own = _reasoning_of(node, names)
            reasoning = own if own is not None else inherited
            entries = _modality_entries(node, names)
            if len(entries) >= required:
                if depth:
                    repairs.add("nested")
                weights = _weights_from(entries, names, repairs)
                return RoutingDecision.from_weights(weights, reasoning, names), None
            if entries and near_miss is None:
                near_miss = (
                    f"only {len(entries)} of {len(names)} modality weights present "
                    f"({', '.join(entries)}); at least {required} required"
                )
            children = list(node.values())
        elif isinstance(node, list):
            reasoning = inherited
            children = node
        elif (
            isinstance(node, str) and string_depth < MAX_STRING_JSON_DEPTH and node.lstrip()[:1] in ("{", "[")
        ):
            try:
                decoded = _DECODER.decode(node.strip())
            except (ValueError, RecursionError):
                continue
            repairs.add("string_json")
            stack.append((decoded, inherited, depth + 1, string_depth + 1))
            continue
        else:
            continue
        for child in reversed(children):
            if isinstance(child, (Mapping, list, str)):
                stack.append((child, reasoning, depth + 1, string_depth))
    return None, near_miss


# --------------------------------------------------------------------------- decisions


def parse_decision(text: object, modalities: Sequence[str] = DEFAULT_MODALITIES) -> ParseResult:
    """Read a routing decision from a model answer; never raises.

    ``text`` is normally the answer string; bytes are decoded as UTF-8 and an
    already-decoded JSON object or list is searched directly. See the module
    docstring for the rules.
    """
    try:
        names = validate_modalities(modalities)
    except ValueError as exc:
        return ParseResult(None, f"invalid modalities: {exc}")
    try:
        return _parse_decision(text, names)
    except Exception as exc:  # the contract is "never raises": the router must fall back
        return ParseResult(None, f"internal parser error: {type(exc).__name__}")


def _found(value: Any, names: tuple[str, ...], repairs: set[str]) -> ParseResult | str | None:
    try:
        decision, reason = _decision_in(value, names, repairs)
    except (_Failure, ValueError) as exc:
        return ParseResult(None, str(exc))
    if decision is not None:
        return ParseResult(decision, None, tuple(sorted(repairs)))
    return reason


def _parse_decision(text: object, names: tuple[str, ...]) -> ParseResult:
    if isinstance(text, (Mapping, list)):
        outcome = _found(text, names, set())
        if isinstance(outcome, ParseResult):
            return outcome
        return ParseResult(None, outcome or "no object with modality weights found")
    answer, capped, error = _as_text(text, MAX_ANSWER_CHARS)
    if answer is None:
        return ParseResult(None, error)
    if not answer.strip():
        return ParseResult(None, "empty answer")
    near_miss: str | None = None
    for event in _scan(answer):
        if isinstance(event, _GaveUp):
            return ParseResult(None, near_miss or event.reason)
        if isinstance(event, _Cut):
            if capped:
                return ParseResult(None, f"answer longer than {MAX_ANSWER_CHARS} characters")
            return ParseResult(None, f"answer cut off inside a JSON value starting at offset {event.start}")
        repairs: set[str] = set()
        outcome = _found(event.value, names, repairs)
        if isinstance(outcome, ParseResult):
            if outcome.ok:
                extra = _extra_text_repair(answer, event.start, event.end)
                if extra:
                    repairs.add(extra)
                return ParseResult(outcome.decision, None, tuple(sorted(repairs)))
            return outcome
        near_miss = near_miss or outcome
    if near_miss:
        return ParseResult(None, near_miss)
    if answer.lstrip()[:1] == '"':
        # The whole answer may be JSON encoded as a JSON string.
        try:
            inner = _DECODER.decode(answer.strip())
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, str):
            result = _parse_decision(inner, names)
            if result.ok:
                return ParseResult(result.decision, None, tuple(sorted({*result.repairs, "string_json"})))
            return result
    return ParseResult(None, "no JSON object with modality weights found")


# --------------------------------------------------------------------------- labelled examples


def _is_example(value: Any) -> bool:
    return isinstance(value, Mapping) and "query" in value


def _example_list_in(value: Any) -> list[Any] | None:
    """The first list (pre-order) holding at least one object with a 'query' key."""
    stack = [value]
    visited = 0
    while stack and visited < MAX_NODES:
        node = stack.pop()
        visited += 1
        if isinstance(node, list):
            if any(_is_example(item) for item in node):
                return node
            children = node
        elif isinstance(node, Mapping):
            children = list(node.values())
        else:
            continue
        stack.extend(child for child in reversed(children) if isinstance(child, (list, Mapping)))
    return None


def _example_from_item(item: Any, names: tuple[str, ...]) -> LabelledExample:
    if not isinstance(item, Mapping):
        raise _Failure(f"not an object ({type(item).__name__})")
    query = item.get("query")
    if not isinstance(query, str) or not query.strip():
        raise _Failure("no 'query' string")
    query = query.strip()
    if len(query) > MAX_QUERY_CHARS:
        raise _Failure(f"query longer than {MAX_QUERY_CHARS} characters")
    decision, reason = _decision_in(item, names, set())
    if decision is None:
        raise _Failure(reason or "no modality weights")
    return LabelledExample(query, decision)


def parse_labelled_examples(
    text: object, modalities: Sequence[str] = DEFAULT_MODALITIES
) -> ExamplesParseResult:
    """Read a teacher's batch of labelled examples; never raises.

    Accepts a JSON array of ``{"query", <modality weights>, "reasoning"}`` objects
    anywhere in the answer (fenced, with prose, wrapped as ``{"examples": [...]}``
    or deeper), or JSON Lines style objects one after another. Items are read with
    the same tolerance as :func:`parse_decision`; unusable items are dropped and
    counted. When the answer is cut off mid-array, the complete items before the
    cut are kept and the cut item counts as dropped.
    """
    try:
        names = validate_modalities(modalities)
    except ValueError as exc:
        return ExamplesParseResult([], 0, [f"invalid modalities: {exc}"])
    try:
        return _parse_examples(text, names)
    except Exception as exc:  # never raises, like parse_decision
        return ExamplesParseResult([], 0, [f"internal parser error: {type(exc).__name__}"])


def _collect(
    items: Sequence[Any], names: tuple[str, ...], dropped: int = 0, errors: list[str] | None = None
) -> ExamplesParseResult:
    examples: list[LabelledExample] = []
    errors = list(errors or [])
    for index, item in enumerate(items):
        try:
            examples.append(_example_from_item(item, names))
        except (_Failure, ValueError) as exc:
            dropped += 1
            if len(errors) < MAX_ERRORS:
                errors.append(f"item {index}: {exc}")
    return ExamplesParseResult(examples, dropped, errors[:MAX_ERRORS])


def _parse_examples(text: object, names: tuple[str, ...]) -> ExamplesParseResult:
    if isinstance(text, (Mapping, list)):
        found = text if _is_example(text) else _example_list_in(text)
        if found is None:
            return ExamplesParseResult([], 0, ["no labelled examples found"])
        return _collect([found] if isinstance(found, Mapping) else found, names)
    answer, capped, error = _as_text(text, MAX_EXAMPLES_ANSWER_CHARS)
    if answer is None:
        return ExamplesParseResult([], 0, [error or "answer is not text"])
    loose: list[Any] = []  # example objects outside any array (JSON Lines style)
    loose_end = -1
    last_cut: int | None = None
    notes: list[str] = []
    for event in _scan(answer):
        if isinstance(event, _GaveUp):
            notes.append(event.reason)
            break
        if isinstance(event, _Cut):
            # Keep scanning: complete items inside a cut-off array still decode on their own.
            last_cut = event.start
            continue
        if _is_example(event.value):
            loose.append(event.value)
            loose_end = event.end
            continue
        found = _example_list_in(event.value)
        if found is not None:
            return _collect(found, names)
    if capped:
        notes.append(f"answer longer than {MAX_EXAMPLES_ANSWER_CHARS} characters was truncated")
    if last_cut is not None and last_cut > loose_end:
        notes.append(f"answer cut off inside a JSON value starting at offset {last_cut}")
        if loose:
            # The item the cut interrupted is lost.
            return _collect(loose, names, dropped=1, errors=notes)
    if loose:
        return _collect(loose, names, errors=notes)
    return ExamplesParseResult([], 0, [*notes, "no JSON array of labelled examples found"][:MAX_ERRORS])
