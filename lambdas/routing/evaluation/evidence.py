"""How sure the report's numbers are: intervals per candidate, paired comparisons, resolution, breakdown.

Functions of answer records against one reference (the records' `reference`: the held-out
set's teacher labels, or any other labelled set such as a gold set): call them on any list of
records. The statistics themselves are `intervals` (stdlib only).

* Per candidate, `candidate_intervals`: `mean_score` and `mae` with a seeded percentile
  bootstrap over queries, `dominant_accuracy` and `json_validity` with a Wilson interval.
  Each metric counts the records its definition counts (`metrics`): MAE only valid answers.
* Paired, `compare(a, b)`: per query the difference a - b (same query, same reference:
  records are paired by `index` and a pair whose query or reference differs is left out), its
  bootstrap interval and a verdict (`intervals.verdict`). Tolerances (TOLERANCE_KEYS): the
  mean score's is the gate's `max_score_drop`; the other metrics have no configured margin,
  so their tolerance is 0 and their verdict only says whether a difference is shown
  ("better" / "worse") or not ("not worse" when the interval is exactly 0, else "undecided").
* `resolution`: for the gate's comparison, the standard deviation of the paired score
  differences, the smallest difference this many pairs detect (80 % power, 5 %), and the
  pairs the configured tolerance needs.
* `breakdown`: every candidate's intervals per reference dominant modality (the first of a
  tie), so a model good on average and poor on audio queries shows. The held-out records
  carry no difficulty, so there is no per-difficulty breakdown.

Seeds derive from the caller's seed (the Report step passes the run id) and the candidate,
comparison and metric names: the same answers give the same report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .intervals import (
    Interval,
    Verdict,
    bootstrap_mean,
    detectable_difference,
    size_needed,
    standard_deviation,
    verdict,
    wilson,
)
from .records import AnswerRecord

# The comparisons the report makes, in its order: the gate's first.
COMPARED: tuple[tuple[str, str], ...] = (("distilled", "baseline"), ("distilled", "student"))
GATE_COMPARISON = "distilled_vs_baseline"


@dataclass(frozen=True)
class Metric:
    """A per-record value (None: the record does not count for this metric) and how to read it."""

    name: str
    value: Callable[[AnswerRecord], float | None]
    proportion: bool
    higher_is_better: bool


METRICS: tuple[Metric, ...] = (
    Metric("mean_score", lambda record: float(record.score), False, True),
    Metric("mae", lambda record: record.mean_error if record.valid else None, False, False),
    Metric("dominant_accuracy", lambda record: float(record.dominant_correct), True, True),
    Metric("json_validity", lambda record: float(record.valid), True, True),
)
METRIC_NAMES = tuple(metric.name for metric in METRICS)
# The one metric with a configured tolerance (the gate's `max_score_drop`); the others use 0.
TOLERANCE_KEYS = {"mean_score": "max_score_drop"}


def comparison_name(a: str, b: str) -> str:
    return f"{a}_vs_{b}"


def candidate_intervals(records: Sequence[AnswerRecord], *, seed: str) -> dict[str, Interval]:
    """Each metric of one candidate's records with its 95 % interval."""
    result = {}
    for metric in METRICS:
        values = [value for record in records if (value := metric.value(record)) is not None]
        if metric.proportion:
            result[metric.name] = wilson(round(sum(values)), len(values))
        else:
            result[metric.name] = bootstrap_mean(values, f"{seed}/{metric.name}")
    return result


@dataclass(frozen=True)
class Comparison:
    """a - b on one metric over paired queries, its interval, tolerance and verdict."""

    metric: str
    difference: Interval
    tolerance: float
    verdict: Verdict
    higher_is_better: bool
    sd: float | None
    differences: list[float] = field(repr=False, default_factory=list)

    @property
    def pairs(self) -> int:
        return self.difference.n

    def pairs_to_decide(self) -> int | None:
        """Pairs at which the observed difference would be decided against -tolerance (80 % power).

        None without a spread to extrapolate from, or when the difference sits exactly on the margin.
        """
        if self.sd is None or self.difference.estimate is None:
            return None
        oriented = self.difference.estimate if self.higher_is_better else -self.difference.estimate
        return size_needed(self.sd, oriented + self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        """`comparisons.<a>_vs_<b>.<metric>` of report.json."""
        return {
            **self.difference.to_dict(),
            "verdict": self.verdict,
            "tolerance": self.tolerance,
            "better": "higher" if self.higher_is_better else "lower",
            "sd": None if self.sd is None else round(self.sd, 4),
        }


def paired_differences(a: Sequence[AnswerRecord], b: Sequence[AnswerRecord], metric: Metric) -> list[float]:
    """a - b per query both records count for, paired by index (same query and reference), in index order."""
    others = {record.index: record for record in b}
    differences = []
    for mine in sorted(a, key=lambda record: record.index):
        theirs = others.get(mine.index)
        if theirs is None or (mine.query, mine.reference) != (theirs.query, theirs.reference):
            continue
        left, right = metric.value(mine), metric.value(theirs)
        if left is not None and right is not None:
            differences.append(left - right)
    return differences


def compare(
    a: Sequence[AnswerRecord],
    b: Sequence[AnswerRecord],
    *,
    tolerances: Mapping[str, float],
    seed: str,
) -> dict[str, Comparison]:
    """Every metric of a against b: paired difference, bootstrap interval, verdict at its tolerance."""
    result = {}
    for metric in METRICS:
        differences = paired_differences(a, b, metric)
        result[metric.name] = compare_differences(
            metric.name,
            differences,
            tolerance=tolerances.get(metric.name, 0.0),
            higher_is_better=metric.higher_is_better,
            seed=f"{seed}/{metric.name}",
        )
    return result


def compare_differences(
    metric: str, differences: Sequence[float], *, tolerance: float, higher_is_better: bool = True, seed: str
) -> Comparison:
    """A comparison from paired differences a - b (what `compare` does per metric)."""
    difference = bootstrap_mean(differences, seed)
    return Comparison(
        metric=metric,
        difference=difference,
        tolerance=tolerance,
        verdict=verdict(difference, tolerance, higher_is_better=higher_is_better),
        higher_is_better=higher_is_better,
        sd=standard_deviation(differences),
        differences=list(differences),
    )


def resolution(comparison: Comparison, *, name: str, holdout_limit: int) -> dict[str, Any]:
    """`resolution` of report.json: what this many pairs can tell apart, and the size the tolerance needs."""
    sd = comparison.sd
    detectable = None if sd is None else detectable_difference(sd, comparison.pairs)
    return {
        "comparison": name,
        "metric": comparison.metric,
        "pairs": comparison.pairs,
        "sd": None if sd is None else round(sd, 4),
        "detectable_difference": None if detectable is None else round(detectable, 4),
        "tolerance": comparison.tolerance,
        # No spread (every pair alike) says nothing about the size a tolerance needs.
        "pairs_needed": size_needed(sd, comparison.tolerance) if sd else None,
        "holdout_limit": holdout_limit,
    }


def breakdown(
    records_by_candidate: Mapping[str, Sequence[AnswerRecord]], modalities: Sequence[str], *, seed: str
) -> dict[str, dict[str, Any]]:
    """`breakdown.<modality>.<candidate>` = {n, intervals} per reference dominant modality."""
    result: dict[str, dict[str, Any]] = {}
    for modality in modalities:
        per_candidate = {}
        for candidate, records in records_by_candidate.items():
            own = [record for record in records if _group(record, modalities) == modality]
            intervals = candidate_intervals(own, seed=f"{seed}/{modality}/{candidate}")
            per_candidate[candidate] = {
                "n": len(own),
                "intervals": {name: interval.to_dict() for name, interval in intervals.items()},
            }
        result[modality] = per_candidate
    return result


def _group(record: AnswerRecord, modalities: Sequence[str]) -> str:
    return record.expected_dominant[0] if record.expected_dominant else modalities[0]


@dataclass(frozen=True)
class Evidence:
    """Everything `gather` found; `to_dict()` is report.json's candidates, comparisons, resolution, breakdown."""

    candidates: dict[str, dict[str, Interval]]
    comparisons: dict[str, dict[str, Comparison]]
    resolution: dict[str, Any] | None
    breakdown: dict[str, dict[str, Any]]

    def comparison(self, name: str, metric: str) -> Comparison | None:
        return self.comparisons.get(name, {}).get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": {
                name: {"intervals": {metric: interval.to_dict() for metric, interval in intervals.items()}}
                for name, intervals in self.candidates.items()
            },
            "comparisons": {
                name: {metric: comparison.to_dict() for metric, comparison in metrics.items()}
                for name, metrics in self.comparisons.items()
            },
            "resolution": self.resolution,
            "breakdown": self.breakdown,
        }


def gather(
    records_by_candidate: Mapping[str, Sequence[AnswerRecord]],
    *,
    modalities: Sequence[str],
    tolerances: Mapping[str, float],
    seed: str,
    holdout_limit: int,
) -> Evidence:
    """Intervals, the COMPARED comparisons present, the first comparison's resolution, the breakdown."""
    candidates = {
        name: candidate_intervals(records, seed=f"{seed}/{name}")
        for name, records in records_by_candidate.items()
    }
    comparisons = {}
    for a, b in COMPARED:
        if a in records_by_candidate and b in records_by_candidate:
            name = comparison_name(a, b)
            comparisons[name] = compare(
                records_by_candidate[a], records_by_candidate[b], tolerances=tolerances, seed=f"{seed}/{name}"
            )
    first = next(iter(comparisons), None)
    return Evidence(
        candidates=candidates,
        comparisons=comparisons,
        resolution=(
            resolution(comparisons[first]["mean_score"], name=first, holdout_limit=holdout_limit)
            if first
            else None
        ),
        breakdown=breakdown(records_by_candidate, modalities, seed=f"{seed}/breakdown"),
    )
