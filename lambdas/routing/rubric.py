"""The OverallQuality rubric of the public write-up, made deterministic.

One answer of a candidate model is compared with the reference decision of the held-out
example and gets a score from 5 (best) to 1:

====  ==================================================================================
5     every weight within 0.05 of the reference (``abs error <= 0.05``)
4     every weight within 0.10 of the reference (``abs error <= 0.10``)
3     the dominant modality matches and the mean absolute error is below 0.15
2     the dominant modality is wrong, or the mean absolute error is 0.15 or more
1     unparseable, a modality weight missing, or any weight more than 0.30 off
====  ==================================================================================

Exact semantics (the tests hold them):

* Rules are tried from 1 down to 5-4-3-2 in this order: ``unparseable`` and
  ``missing_keys`` first, then ``any error > 0.30``, then 5, 4, 3, else 2. So an
  error of exactly 0.30 is not a 1, and an error of 0.31 is a 1 even when the
  dominant modality matches.
* Boundaries are inclusive where the write-up says "within" (0.05 exactly scores 5,
  0.10 exactly scores 4) and strict where it says "<" / ">" (a mean error of exactly
  0.15 is a 2; an error of exactly 0.30 is not a 1). Weights carry three decimals,
  so differences such as ``0.25 - 0.2`` are off by a few ulps in binary floating
  point; every comparison allows ``EPSILON`` (1e-9) in the direction that makes the
  decimal value compare as written.
* Dominant modality: the set of modalities holding the largest weight (ties within
  ``EPSILON``). The answer's dominant modality is correct when every modality the
  answer ranks first is one the reference ranks first: a tie in the reference
  accepts any of the tied modalities; an answer that hedges between the right and a
  wrong modality is not correct.
* "Missing keys": the parser fills a missing modality with 0 and records the repair
  ``missing:<modality>``; the rubric scores such an answer 1. Other repairs (prose
  around the JSON, code fences, strings for numbers, rescaling) are not penalised:
  the router performs the same repairs when it serves.

Standard library only (plus the routing contract): the evaluator and tests import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .contract import RoutingDecision
from .parser import ParseResult

__all__ = [
    "EPSILON",
    "MAE_LIMIT_FOR_3",
    "MAX_ERROR_FOR_1",
    "MAX_ERROR_FOR_4",
    "MAX_ERROR_FOR_5",
    "RubricScore",
    "dominant_set",
    "score_answer",
    "score_decision",
]

MAX_ERROR_FOR_5 = 0.05
MAX_ERROR_FOR_4 = 0.10
MAE_LIMIT_FOR_3 = 0.15
MAX_ERROR_FOR_1 = 0.30
# Tolerance for binary floating point on three-decimal weights (errors are multiples of 0.001).
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RubricScore:
    """The score of one answer and the numbers behind it.

    ``max_error`` / ``mean_error`` are None when there is no usable decision.
    ``dominant_correct`` is False for an unusable answer.
    """

    score: int
    reason: str
    max_error: float | None
    mean_error: float | None
    dominant_correct: bool
    expected_dominant: tuple[str, ...]
    answer_dominant: tuple[str, ...]


def dominant_set(weights: Mapping[str, float]) -> tuple[str, ...]:
    """The modalities holding the largest weight, in modality order (several on a tie)."""
    if not weights:
        return ()
    top = max(weights.values())
    return tuple(name for name, weight in weights.items() if weight >= top - EPSILON)


def score_decision(
    reference: RoutingDecision, answer: RoutingDecision | None, *, missing: tuple[str, ...] = ()
) -> RubricScore:
    """Score a parsed answer against the reference; `missing` lists modalities the answer lacked."""
    expected = dominant_set(reference.weights)
    if answer is None:
        return RubricScore(1, "unparseable", None, None, False, expected, ())
    if tuple(answer.weights) != tuple(reference.weights):
        raise ValueError(
            f"answer modalities {tuple(answer.weights)} differ from the reference's {tuple(reference.weights)}"
        )
    errors = [abs(answer.weights[name] - reference.weights[name]) for name in reference.weights]
    max_error = max(errors)
    mean_error = math.fsum(errors) / len(errors)
    got = dominant_set(answer.weights)
    dominant_ok = set(got) <= set(expected)

    def result(score: int, reason: str) -> RubricScore:
        return RubricScore(score, reason, max_error, mean_error, dominant_ok, expected, got)

    if missing:
        return result(1, "missing_keys")
    if max_error > MAX_ERROR_FOR_1 + EPSILON:
        return result(1, "error_over_0.30")
    if max_error <= MAX_ERROR_FOR_5 + EPSILON:
        return result(5, "within_0.05")
    if max_error <= MAX_ERROR_FOR_4 + EPSILON:
        return result(4, "within_0.10")
    if dominant_ok and mean_error < MAE_LIMIT_FOR_3 - EPSILON:
        return result(3, "dominant_match_mae_below_0.15")
    return result(2, "mae_at_least_0.15" if dominant_ok else "dominant_wrong")


def score_answer(reference: RoutingDecision, parsed: ParseResult) -> RubricScore:
    """Score the parser's result for one model answer (see the module docstring)."""
    missing = tuple(repair.split(":", 1)[1] for repair in parsed.repairs if repair.startswith("missing:"))
    return score_decision(reference, parsed.decision, missing=missing)
