"""Routing core shared by every Lambda: the decision contract, the answer parser
and the heuristic fallback.

* :mod:`routing.contract`: modalities, system prompt, weight normalisation,
  :class:`RoutingDecision` and :class:`LabelledExample` (the flat wire shapes);
* :mod:`routing.parser`: tolerant, never-raising parsing of model answers and of
  teacher batches of labelled examples;
* :mod:`routing.heuristic`: a deterministic keyword-cue decision for when no
  model answer is usable.

Standard library only, cheap to import (the router's cold start counts).
"""

from .contract import (
    DEFAULT_MODALITIES,
    MAX_MODALITIES,
    MAX_QUERY_CHARS,
    MAX_REASONING_CHARS,
    SEED_SYSTEM_PROMPT,
    WEIGHT_DECIMALS,
    LabelledExample,
    RoutingDecision,
    clean_reasoning,
    encodable_text,
    example_from_dict,
    normalise_query,
    normalise_weights,
    system_prompt,
    validate_modalities,
)
from .heuristic import heuristic_decision
from .parser import (
    ExamplesParseResult,
    ParseResult,
    parse_decision,
    parse_labelled_examples,
)

__all__ = [
    "DEFAULT_MODALITIES",
    "MAX_MODALITIES",
    "MAX_QUERY_CHARS",
    "MAX_REASONING_CHARS",
    "SEED_SYSTEM_PROMPT",
    "WEIGHT_DECIMALS",
    "ExamplesParseResult",
    "LabelledExample",
    "ParseResult",
    "RoutingDecision",
    "clean_reasoning",
    "encodable_text",
    "example_from_dict",
    "heuristic_decision",
    "normalise_query",
    "normalise_weights",
    "parse_decision",
    "parse_labelled_examples",
    "system_prompt",
    "validate_modalities",
]
