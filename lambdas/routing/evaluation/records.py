"""One line of `runs/<id>/evaluation/results.jsonl`: a candidate's answer to one held-out or gold query.

`reference_set` says which references the record is scored against: "holdout" (the held-out
set, whose references are the teacher's labels) or "gold" (the gold set, labelled by people);
`index` is the query's line in that set.

The record keeps everything the report needs and everything a person needs to audit a
score: the raw answer, the parsed decision, the rubric's numbers, latency, tokens, errors.
Records are scored when they are made (the rubric is deterministic, so re-scoring the raw
answer gives the same result).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..contract import LabelledExample
from ..parser import parse_decision
from ..rubric import score_answer, score_decision
from ..settings import ReferenceSet
from .answering import CallOutcome, Candidate


class AnswerRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    candidate: str
    model_id: str
    index: int
    query: str
    reference: dict[str, Any]
    answer: str | None
    parsed: dict[str, Any] | None
    parse_error: str | None
    repairs: list[str]
    score: int
    score_reason: str
    max_error: float | None
    mean_error: float | None
    dominant_correct: bool
    expected_dominant: list[str]
    answer_dominant: list[str]
    latency_ms: float | None
    server_latency_ms: float | None
    input_tokens: int
    output_tokens: int
    stop_reason: str | None
    error: str | None
    attempts: int
    offline_stand_in: bool = False
    reference_set: ReferenceSet = "holdout"
    # The local candidate's confidence in its answer (routing.local_model); None for a model's answer.
    confidence: float | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.reference_set, self.candidate, self.index)

    @property
    def valid(self) -> bool:
        """The answer parsed into a decision (the JSON validity numerator)."""
        return self.parsed is not None

    @property
    def succeeded(self) -> bool:
        """The call returned an answer (latency and tokens are measured)."""
        return self.error is None


def make_record(
    candidate: Candidate,
    index: int,
    example: LabelledExample,
    outcome: CallOutcome,
    modalities: Sequence[str],
    *,
    offline_stand_in: bool = False,
    confidence: float | None = None,
) -> AnswerRecord:
    """Parse and score one finished call. A failed call (no answer) scores 1 like an unparseable one."""
    answer = outcome.answer
    parsed = parse_decision(answer.text, modalities) if answer is not None else None
    if parsed is not None:
        rubric = score_answer(example.decision, parsed)
        parse_error = parsed.error
        repairs = list(parsed.repairs)
        decision = parsed.decision
    else:
        rubric = score_decision(example.decision, None)
        parse_error = "no answer: the call failed"
        repairs = []
        decision = None
    return AnswerRecord(
        candidate=candidate.name,
        model_id=candidate.model_id,
        index=index,
        query=example.query,
        reference=example.decision.to_dict(),
        answer=answer.text if answer is not None else None,
        parsed=decision.to_dict() if decision is not None else None,
        parse_error=parse_error,
        repairs=repairs,
        score=rubric.score,
        score_reason=rubric.reason if outcome.error is None else "call_failed",
        max_error=_round(rubric.max_error),
        mean_error=_round(rubric.mean_error),
        dominant_correct=rubric.dominant_correct,
        expected_dominant=list(rubric.expected_dominant),
        answer_dominant=list(rubric.answer_dominant),
        latency_ms=answer.latency_ms if answer is not None else None,
        server_latency_ms=answer.server_latency_ms if answer is not None else None,
        input_tokens=answer.input_tokens if answer is not None else 0,
        output_tokens=answer.output_tokens if answer is not None else 0,
        stop_reason=answer.stop_reason if answer is not None else None,
        error=outcome.error,
        attempts=outcome.attempts,
        offline_stand_in=offline_stand_in,
        reference_set=candidate.reference_set,
        confidence=confidence,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
