"""The routing contract: the one definition of a routing decision.

Everything that produces or consumes modality weights (the teacher prompt, the
training data, the router, the evaluator) goes through this module, so that a
decision means the same thing everywhere:

* the modalities are configuration (default: visual, audio, transcription,
  metadata) and are validated once by :func:`validate_modalities`;
* weights are non-negative, rounded to ``WEIGHT_DECIMALS`` and sum to exactly 1.0
  (:func:`normalise_weights`);
* the wire shape is flat: ``{<modality>: weight, ..., "reasoning": str}``, with a
  leading ``"query"`` for labelled examples.

Standard library only and cheap to import: the router's cold start depends on it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "DEFAULT_MODALITIES",
    "MAX_MODALITIES",
    "MAX_QUERY_CHARS",
    "MAX_REASONING_CHARS",
    "RESERVED_KEYS",
    "SEED_SYSTEM_PROMPT",
    "WEIGHT_DECIMALS",
    "WEIGHT_SUM_TOLERANCE",
    "LabelledExample",
    "RoutingDecision",
    "clean_query",
    "clean_reasoning",
    "encodable_text",
    "example_from_dict",
    "normalise_query",
    "normalise_weights",
    "system_prompt",
    "validate_modalities",
]

DEFAULT_MODALITIES: tuple[str, ...] = ("visual", "audio", "transcription", "metadata")

# The seed's system prompt, verbatim: training and serving must send the same text.
SEED_SYSTEM_PROMPT = (
    "Return JSON with visual, audio, transcription, metadata weights (sum=1.0) "
    "and reasoning for the given video search query."
)
_PROMPT_TEMPLATE = (
    "Return JSON with {names} weights (sum=1.0) and reasoning for the given video search query."
)

WEIGHT_DECIMALS = 3
# How far from 1.0 the weights of a decision may sum (float error, not a person's rounding).
WEIGHT_SUM_TOLERANCE = 1e-6
# Rounding each weight moves it by at most half a unit of WEIGHT_DECIMALS; the
# residual lands on the largest weight, which is >= 1/n. Capping n keeps that
# correction far smaller than the largest weight (and prompts short).
MAX_MODALITIES = 16
MAX_REASONING_CHARS = 1_000
# Same default as the router API's query limit.
MAX_QUERY_CHARS = 1_000
# Keys of the flat wire shape that a modality must not shadow.
RESERVED_KEYS = frozenset({"reasoning", "query"})
# A list of reasons is read this far: items per list and pieces in all (however deep it nests).
MAX_REASONING_ITEMS = 50
MAX_REASONING_PIECES = 200

_MODALITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Invisible characters that make two identical-looking queries different cache keys.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# UTF-16 surrogate code points: a JSON escape such as \ud800 decodes to one, and UTF-8 cannot encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable_text(text: str) -> str:
    """``text`` as valid Unicode: surrogate pairs joined, every lone surrogate replaced by U+FFFD.

    A model answer holding the JSON escape ``\\ud800`` decodes to a string that UTF-8 cannot
    encode; the Lambda runtime serialises results with ``ensure_ascii=False`` and then UTF-8, so
    one such character anywhere in a result crashes the invocation (a 502 at the API). Every
    string the contract produces (reasoning, queries) goes through here.
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@lru_cache(maxsize=64)
def _validate_names(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise ValueError("modalities must not be empty")
    if len(names) > MAX_MODALITIES:
        raise ValueError(f"at most {MAX_MODALITIES} modalities are supported, got {len(names)}")
    seen: set[str] = set()
    for name in names:
        if not _MODALITY_NAME.fullmatch(name):
            raise ValueError(
                f"invalid modality name {name!r}: expected a lowercase identifier "
                "matching [a-z][a-z0-9_]{0,31}"
            )
        if name in RESERVED_KEYS:
            raise ValueError(f"modality name {name!r} is reserved by the answer format")
        if name in seen:
            raise ValueError(f"duplicate modality name {name!r}")
        seen.add(name)
    return names


def validate_modalities(modalities: Iterable[str]) -> tuple[str, ...]:
    """Return ``modalities`` as a tuple after checking it is a usable modality set.

    Raises ``ValueError`` for an empty set, more than ``MAX_MODALITIES`` names,
    duplicates, reserved names (``reasoning``, ``query``) or names that are not
    lowercase identifiers of at most 32 characters.
    """
    if modalities is DEFAULT_MODALITIES:
        return DEFAULT_MODALITIES
    if isinstance(modalities, (str, bytes)):
        # A bare string would otherwise be read as one modality per character.
        raise ValueError("modalities must be a sequence of names, not a single string")
    try:
        names = tuple(modalities)
    except TypeError:
        raise ValueError(f"modalities must be a sequence of names, got {type(modalities).__name__}") from None
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"modality names must be strings, got {type(name).__name__}")
    return _validate_names(names)


def system_prompt(modalities: Sequence[str] = DEFAULT_MODALITIES) -> str:
    """The system prompt for a modality set; the seed's text for the default four."""
    names = validate_modalities(modalities)
    if names == DEFAULT_MODALITIES:
        return SEED_SYSTEM_PROMPT
    return _PROMPT_TEMPLATE.format(names=", ".join(names))


def _finite_number(value: object, name: str) -> float:
    # bool is an int subclass, but True is not a weight.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"weight for {name!r} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"weight for {name!r} is too large") from None
    if not math.isfinite(number):
        raise ValueError(f"weight for {name!r} must be finite, got {number!r}")
    return number


def normalise_weights(
    raw: Mapping[str, float], modalities: Sequence[str] = DEFAULT_MODALITIES
) -> dict[str, float]:
    """Weights for exactly ``modalities`` (in that order) that sum to 1.0.

    Missing modalities count as 0 and keys that are not modalities are ignored
    (so a flat decision dict with its ``reasoning`` can be passed as is). Negative
    weights are clipped to 0, the rest scaled to sum 1, rounded to
    ``WEIGHT_DECIMALS`` and the rounding residual is added to the largest weight
    (first in modality order on ties), so ``round(sum(result.values()), 9) == 1.0``.

    Raises ``ValueError`` if a weight is not a finite number (booleans are not
    numbers) or if no weight is positive.
    """
    names = validate_modalities(modalities)
    if not isinstance(raw, Mapping):
        raise ValueError(f"weights must be a mapping, got {type(raw).__name__}")
    values = []
    for name in names:
        number = _finite_number(raw[name], name) if name in raw else 0.0
        # `max(number, 0.0)` would keep -0.0.
        values.append(number if number > 0.0 else 0.0)
    peak = max(values)
    if peak <= 0.0:
        raise ValueError("all weights are zero or negative: nothing to normalise")
    # Dividing by the peak first keeps the sum finite even for weights near float max.
    scaled = [value / peak for value in values]
    total = math.fsum(scaled)
    rounded = [round(value / total, WEIGHT_DECIMALS) for value in scaled]
    residual = round(1.0 - math.fsum(rounded), WEIGHT_DECIMALS)
    if residual:
        largest = rounded.index(max(rounded))
        rounded[largest] = round(rounded[largest] + residual, WEIGHT_DECIMALS)
    return dict(zip(names, rounded, strict=True))


def clean_reasoning(value: object) -> str:
    """Reasoning as stored in a decision: a trimmed string of at most MAX_REASONING_CHARS.

    ``None`` becomes ``""``, a list of reasons (lists nested to any depth) is flattened in
    order and joined with spaces, any other non-string is converted with ``str``; lone
    surrogates become U+FFFD (:func:`encodable_text`). Iterative and bounded (at most
    MAX_REASONING_ITEMS items per list, MAX_REASONING_PIECES pieces in all), so deep or
    wide nesting costs linear time and never a RecursionError. Idempotent, so a decision
    survives a JSON round trip unchanged.
    """
    if isinstance(value, (list, tuple)):
        # Some models give their reasons as a list of sentences.
        pieces: list[str] = []
        length = 0
        stack: list[Any] = [iter(value[:MAX_REASONING_ITEMS])]
        while stack and len(pieces) < MAX_REASONING_PIECES and length <= MAX_REASONING_CHARS:
            item = next(stack[-1], _END)
            if item is _END:
                stack.pop()
            elif isinstance(item, (list, tuple)):
                stack.append(iter(item[:MAX_REASONING_ITEMS]))
            else:
                piece = _reasoning_text(item)
                if piece:
                    pieces.append(piece)
                    length += len(piece) + 1
        text = " ".join(pieces)
    else:
        text = _reasoning_text(value)
    if len(text) > MAX_REASONING_CHARS:
        text = text[:MAX_REASONING_CHARS].rstrip()
    return text


_END = object()


def _reasoning_text(value: object) -> str:
    """One piece of reasoning, trimmed and encodable (not yet capped)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:  # a hostile __str__ (or a repr nested too deep) must not break a parse
            return ""
    return encodable_text(value.strip())


class _FrozenWeights(dict):
    """A read-only dict: keeps RoutingDecision immutable and hashable while staying
    a real dict for ``json.dumps``, ``dataclasses.asdict`` and equality with dicts."""

    __slots__ = ()

    def _readonly(self, *args: object, **kwargs: object) -> None:
        raise TypeError("routing decision weights are read-only")

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # dict's default pickling would rebuild the object through __setitem__.
        return (type(self), (dict(self),))

    def __copy__(self) -> _FrozenWeights:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _FrozenWeights:
        return self


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Normalised modality weights plus the model's (or heuristic's) reasoning.

    Construct through :meth:`from_weights` unless the weights are already
    normalised: the constructor only checks them (each in [0, 1], sum 1 within
    WEIGHT_SUM_TOLERANCE, valid modality names) and freezes them. Reasoning is kept encodable
    (:func:`encodable_text`) however the decision was made.
    """

    weights: Mapping[str, float]
    reasoning: str

    def __post_init__(self) -> None:
        weights = self.weights
        if not isinstance(weights, Mapping):
            raise ValueError(f"weights must be a mapping, got {type(weights).__name__}")
        names = validate_modalities(tuple(weights))
        frozen = {}
        for name in names:
            number = _finite_number(weights[name], name)
            if not 0.0 <= number <= 1.0:
                raise ValueError(f"weight for {name!r} must be in [0, 1], got {number!r}")
            frozen[name] = number
        total = math.fsum(frozen.values())
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(f"weights must sum to 1.0 (within {WEIGHT_SUM_TOLERANCE:g}), got {total:.9g}")
        if not isinstance(self.reasoning, str):
            raise ValueError(f"reasoning must be a string, got {type(self.reasoning).__name__}")
        object.__setattr__(self, "weights", _FrozenWeights(frozen))
        object.__setattr__(self, "reasoning", encodable_text(self.reasoning))

    @classmethod
    def from_weights(
        cls,
        raw: Mapping[str, float],
        reasoning: object = "",
        modalities: Sequence[str] = DEFAULT_MODALITIES,
    ) -> RoutingDecision:
        """Normalise ``raw`` (see :func:`normalise_weights`) and clean ``reasoning``."""
        return cls(normalise_weights(raw, modalities), clean_reasoning(reasoning))

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @property
    def dominant(self) -> str:
        """The modality with the highest weight; ties go to the first in modality order."""
        best_name, best_weight = "", -1.0
        for name, weight in self.weights.items():
            if weight > best_weight:
                best_name, best_weight = name, weight
        return best_name

    def to_dict(self) -> dict[str, Any]:
        """The flat wire shape: ``{<modality>: weight, ..., "reasoning": str}``."""
        flat: dict[str, Any] = dict(self.weights)
        flat["reasoning"] = self.reasoning
        return flat


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One training or held-out example: a query (kept encodable) and its reference decision."""

    query: str
    decision: RoutingDecision

    def __post_init__(self) -> None:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValueError("query must be a non-empty string")
        if not isinstance(self.decision, RoutingDecision):
            raise ValueError("decision must be a RoutingDecision")
        object.__setattr__(self, "query", encodable_text(self.query))

    def to_dict(self) -> dict[str, Any]:
        """The labelled JSONL shape: ``{"query": ..., <modality>: weight, ..., "reasoning": ...}``."""
        return {"query": self.query, **self.decision.to_dict()}


def example_from_dict(
    obj: Mapping[str, Any], modalities: Sequence[str] = DEFAULT_MODALITIES
) -> LabelledExample:
    """Read one line of the labelled JSONL format (bring-your-own and held-out files).

    Stricter than the model-answer parser on purpose, because these files are
    data, not model output: every modality must be present as a non-negative
    finite number (weights on any scale are normalised), ``query`` must be a
    non-empty string of at most MAX_QUERY_CHARS after trimming, ``reasoning`` is
    optional. Other keys (ids, sources) are ignored. Raises ``ValueError`` with
    the reason.
    """
    names = validate_modalities(modalities)
    if not isinstance(obj, Mapping):
        raise ValueError(f"example must be a JSON object, got {type(obj).__name__}")
    query = clean_query(obj.get("query"))
    missing = [name for name in names if name not in obj]
    if missing:
        raise ValueError(f"example is missing weights for {', '.join(missing)}")
    for name in names:
        if _finite_number(obj[name], name) < 0.0:
            raise ValueError(f"weight for {name!r} is negative")
    decision = RoutingDecision.from_weights(obj, obj.get("reasoning"), names)
    return LabelledExample(query, decision)


def clean_query(value: object) -> str:
    """The query of a labelled example: a string, trimmed, not empty, at most MAX_QUERY_CHARS.

    Raises ``ValueError`` with the reason (the rule :func:`example_from_dict` applies, for
    files that hold queries without labels).
    """
    if not isinstance(value, str):
        raise ValueError("example has no 'query' string")
    query = value.strip()
    if not query:
        raise ValueError("example 'query' is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"example 'query' is longer than {MAX_QUERY_CHARS} characters")
    return query


def normalise_query(q: str) -> str:
    """Canonical form of a query for de-duplication and cache keys.

    NFKC (full-width and compatibility characters), case folding, invisible
    characters removed, whitespace runs collapsed to one space, ends trimmed.
    """
    text = unicodedata.normalize("NFKC", q).casefold()
    # Case folding can produce sequences NFKC would compose differently.
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return " ".join(text.split())


# What makes a query a query (the router API's contract, docs/openapi.json): at least one character
# that is not white space (ASCII or Unicode), a control character or an invisible format character
# (soft hyphen, zero-width, BOM). Written with \\u escapes only, so that JSON Schema (API Gateway's
# request models), Python's re and any other engine read the same set.
QUERY_NOT_VISIBLE = (
    "\\u0000-\\u0020\\u007f-\\u00a0\\u00ad\\u1680\\u180e\\u2000-\\u200f"
    "\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff"
)
QUERY_VISIBLE_PATTERN = f"[^{QUERY_NOT_VISIBLE}]"
