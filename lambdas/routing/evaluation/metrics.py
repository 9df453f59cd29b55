"""Per-candidate aggregates of the answer records: quality, validity, latency, tokens, cost.

Definitions (the README's report section repeats them):

* `answers`: held-out queries the candidate was asked (one record each);
* `errors`: calls that failed for good (after retries) and so have no answer;
* `json_validity`: answers the parser turned into a decision / `answers` (a failed call is
  not valid);
* `mean_score`, `score_distribution`: rubric scores over all answers (a failed call or an
  unparseable answer scores 1: the router could not have used it);
* `dominant_accuracy`: answers whose dominant modality is correct / `answers`;
* `mae`: mean absolute weight error over the valid answers (None when there are none);
* `latency_ms`: p50 / p95 / p99 / mean of the client-side latency of successful calls,
  percentiles by linear interpolation between closest ranks (numpy's default, "type 7");
* `tokens`: input / output tokens summed over successful calls (Converse `usage`), and `output_p99`,
  the 99th percentile of one call's output tokens (what `report.recommended_max_tokens` sizes);
* `cost_per_1m_queries_usd`: see `pricing.cost_per_million_queries`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..settings import ModelPrice
from .intervals import percentile
from .pricing import cost_per_million_queries
from .records import AnswerRecord

INVALID = "invalid"
MAX_ERROR_SAMPLES = 3
# Invalid answers shown per model (report.json `invalid_samples`), each raw answer cut at this length.
MAX_INVALID_SAMPLES = 3
MAX_SAMPLE_CHARS = 400


@dataclass(frozen=True)
class LatencyStats:
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencyStats:
        if not values:
            return cls(None, None, None, None)
        return cls(
            _r(percentile(values, 50)),
            _r(percentile(values, 95)),
            _r(percentile(values, 99)),
            _r(math.fsum(values) / len(values)),
        )

    def to_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99, "mean": self.mean}


@dataclass(frozen=True)
class ModelSummary:
    candidate: str
    model_id: str
    answers: int
    errors: int
    valid: int
    mean_score: float
    score_distribution: dict[str, int]
    json_validity: float
    dominant_accuracy: float
    mae: float | None
    latency: LatencyStats
    latencies_ms: list[float] = field(repr=False)
    input_tokens: int
    output_tokens: int
    price: ModelPrice | None
    cost_per_1m_queries_usd: float | None
    confusion: dict[str, Any]
    error_samples: list[str]
    invalid_samples: list[dict[str, Any]] = field(default_factory=list)
    judge_mean_score: float | None = None
    judge_scored: int = 0
    output_tokens_per_call: list[int] = field(default_factory=list, repr=False)

    @property
    def output_tokens_p99(self) -> float | None:
        return _r(percentile(self.output_tokens_per_call, 99)) if self.output_tokens_per_call else None

    def to_dict(self) -> dict[str, Any]:
        """The `models[]` entry of report.json."""
        return {
            "candidate": self.candidate,
            "model_id": self.model_id,
            "answers": self.answers,
            "mean_score": self.mean_score,
            "score_distribution": dict(self.score_distribution),
            "json_validity": self.json_validity,
            "dominant_accuracy": self.dominant_accuracy,
            "mae": self.mae,
            "latency_ms": self.latency.to_dict(),
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                "output_p99": self.output_tokens_p99,
            },
            "errors": self.errors,
            "cost_per_1m_queries_usd": self.cost_per_1m_queries_usd,
            "judge_mean_score": self.judge_mean_score,
            "judge_scored": self.judge_scored,
            "price_per_1m_tokens_usd": (
                {"input": self.price.input_per_1m, "output": self.price.output_per_1m} if self.price else None
            ),
            "dominant_confusion": self.confusion,
            "error_samples": list(self.error_samples),
            "invalid_samples": [dict(sample) for sample in self.invalid_samples],
        }


def summarise(
    candidate: str,
    model_id: str,
    records: Sequence[AnswerRecord],
    modalities: Sequence[str],
    price: ModelPrice | None,
    judge_scores: Sequence[float] = (),
) -> ModelSummary:
    """Aggregate one candidate's records (see the module docstring for each definition)."""
    answers = len(records)
    scores = Counter(record.score for record in records)
    ok = [record for record in records if record.succeeded]
    valid = [record for record in records if record.valid]
    latencies = [record.latency_ms for record in ok if record.latency_ms is not None]
    errors = Counter(record.error.split(":", 1)[0] for record in records if record.error)
    samples = [f"{code} x{count}" for code, count in errors.most_common(MAX_ERROR_SAMPLES)]
    input_tokens = sum(record.input_tokens for record in ok)
    output_tokens = sum(record.output_tokens for record in ok)
    return ModelSummary(
        candidate=candidate,
        model_id=model_id,
        answers=answers,
        errors=sum(1 for record in records if record.error),
        valid=len(valid),
        mean_score=_r(_ratio(sum(record.score for record in records), answers)) or 0.0,
        score_distribution={str(score): scores.get(score, 0) for score in range(1, 6)},
        json_validity=_r(_ratio(len(valid), answers)) or 0.0,
        dominant_accuracy=_r(_ratio(sum(record.dominant_correct for record in records), answers)) or 0.0,
        mae=_r(
            _ratio(math.fsum(record.mean_error or 0.0 for record in valid), len(valid)) if valid else None
        ),
        latency=LatencyStats.of(latencies),
        latencies_ms=latencies,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        price=price,
        cost_per_1m_queries_usd=cost_per_million_queries(
            price, input_tokens=input_tokens, output_tokens=output_tokens, calls=len(ok)
        ),
        confusion=dominant_confusion(records, modalities),
        error_samples=samples,
        invalid_samples=invalid_samples(records),
        judge_mean_score=_r(math.fsum(judge_scores) / len(judge_scores)) if judge_scores else None,
        judge_scored=len(judge_scores),
        output_tokens_per_call=[record.output_tokens for record in ok],
    )


def invalid_samples(
    records: Iterable[AnswerRecord], limit: int = MAX_INVALID_SAMPLES
) -> list[dict[str, Any]]:
    """The first `limit` answers that did not parse (in held-out order): what the model said, and why it failed.

    `answer` is the raw text cut at MAX_SAMPLE_CHARS (`truncated` says so), None when the call itself failed.
    """
    samples = []
    for record in sorted(records, key=lambda item: item.index):
        if record.valid:
            continue
        answer = record.answer
        samples.append(
            {
                "index": record.index,
                "query": record.query,
                "answer": None if answer is None else answer[:MAX_SAMPLE_CHARS],
                "truncated": answer is not None and len(answer) > MAX_SAMPLE_CHARS,
                "reason": record.error or record.parse_error or record.score_reason,
            }
        )
        if len(samples) == limit:
            break
    return samples


def dominant_confusion(records: Iterable[AnswerRecord], modalities: Sequence[str]) -> dict[str, Any]:
    """Reference dominant modality (rows) against the answer's (columns, plus "invalid").

    A correct answer is counted on the diagonal at the modality it chose (with a tie in the
    reference that is one of the tied modalities); otherwise the row is the reference's first
    dominant modality and the column the answer's first, or "invalid". The diagonal's sum
    over all answers is the dominant accuracy.
    """
    columns = [*modalities, INVALID]
    counts: dict[str, Counter[str]] = {name: Counter() for name in modalities}
    for record in records:
        answer = record.answer_dominant[0] if record.answer_dominant else INVALID
        if record.dominant_correct and answer in counts:
            counts[answer][answer] += 1
            continue
        expected = record.expected_dominant[0] if record.expected_dominant else modalities[0]
        counts.setdefault(expected, Counter())[answer] += 1
    return {
        "labels": list(modalities),
        "columns": columns,
        "matrix": [[counts[row].get(column, 0) for column in columns] for row in modalities],
    }


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
