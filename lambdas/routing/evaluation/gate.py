"""The quality gate: may the distilled model replace what the router serves?

Four checks on the distilled candidate, thresholds from configuration (`gate` in cdk.json,
overridable per run through the execution input):

* `min_mean_score`: its mean rubric score is at least `min_mean_score`;
* `max_score_drop`: non-inferiority against the baseline: the lower bound of the 95 %
  interval of the paired score difference (distilled - baseline, same queries, same
  references; `evidence.compare`) is at least -`max_score_drop`. A difference whose interval
  straddles -`max_score_drop` is "undecided" and fails closed; its message says how many
  held-out queries would decide it;
* `min_json_validity`: its JSON validity is at least `min_json_validity`;
* `max_p95_latency_ratio`: its p95 latency is at most the baseline's times this ratio
  (1.0 = no worse than the baseline).

The gate passes only when every check that can be evaluated passes. The two comparisons
with the baseline are skipped (and the report says so) when the baseline is not among the
candidates; when it is but produced no successful answer (latency) or no paired query
(score) they fail, because "as good as the incumbent" cannot be shown. Messages quote the
95 % intervals they were given. Comparisons allow 1e-9 so that equality passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import MAX_HOLDOUT, GateThresholds
from .evidence import Comparison
from .intervals import Interval
from .metrics import ModelSummary

_EPS = 1e-9


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool | None  # None: not evaluated (no baseline candidate)
    observed: float | None
    threshold: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "observed": self.observed,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    thresholds: GateThresholds
    checks: list[GateCheck]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": list(self.reasons),
            "thresholds": self.thresholds.model_dump(),
            "checks": [check.to_dict() for check in self.checks],
        }


def evaluate_gate(
    distilled: ModelSummary | None,
    baseline: ModelSummary | None,
    thresholds: GateThresholds,
    *,
    score_difference: Comparison | None = None,
    intervals: Mapping[str, Interval] | None = None,
) -> GateDecision:
    """Run the four checks; `reasons` are the failed checks' messages, or every message on a pass.

    `score_difference` is the paired mean-score comparison distilled vs baseline (`evidence`);
    `intervals` the distilled candidate's own intervals, quoted in the messages.
    """
    checks: list[GateCheck] = []
    if distilled is None:
        checks.append(
            GateCheck("distilled_present", False, None, None, "the distilled model was not evaluated")
        )
        return _decide(checks, thresholds)
    intervals = intervals or {}

    mean = distilled.mean_score
    checks.append(
        GateCheck(
            "min_mean_score",
            mean >= thresholds.min_mean_score - _EPS,
            mean,
            thresholds.min_mean_score,
            f"distilled mean score {mean:.2f}{_ci(intervals.get('mean_score'))} "
            f"{'>=' if mean >= thresholds.min_mean_score - _EPS else '<'} minimum {thresholds.min_mean_score:.2f}",
        )
    )
    if baseline is None:
        checks.append(
            GateCheck("max_score_drop", None, mean, None, "score drop not checked: no baseline candidate")
        )
    else:
        checks.append(_non_inferiority_check(score_difference, thresholds.max_score_drop))
    validity = distilled.json_validity
    ok = validity >= thresholds.min_json_validity - _EPS
    checks.append(
        GateCheck(
            "min_json_validity",
            ok,
            validity,
            thresholds.min_json_validity,
            f"distilled JSON validity {validity:.1%}{_ci(intervals.get('json_validity'), '{:.1%}')} "
            f"{'>=' if ok else '<'} minimum {thresholds.min_json_validity:.1%}",
        )
    )
    checks.append(_latency_check(distilled, baseline, thresholds))
    return _decide(checks, thresholds)


def _ci(interval: Interval | None, pattern: str = "{:.2f}") -> str:
    if interval is None or interval.low is None or interval.high is None:
        return ""
    return f" (95 % CI {pattern.format(interval.low)} to {pattern.format(interval.high)})"


def _non_inferiority_check(comparison: Comparison | None, tolerance: float) -> GateCheck:
    """Passes on "better" or "not worse": the interval's lower bound is at least -tolerance."""
    floor = -tolerance
    if comparison is None or comparison.difference.low is None or comparison.difference.high is None:
        return GateCheck(
            "max_score_drop", False, None, floor, "no held-out query answered by both the distilled model and "
            "the baseline: the score difference cannot be estimated",
        )  # fmt: skip
    difference = comparison.difference
    low, high, pairs = difference.low, difference.high, difference.n
    stated = (
        f"distilled - baseline mean score {difference.estimate:+.2f} (95 % CI {low:+.2f} to {high:+.2f}, "
        f"{pairs} paired queries)"
    )
    passed = comparison.verdict in ("better", "not worse")
    if passed:
        detail = f"lower bound {low:+.2f} >= -tolerance {floor:+.2f}: {comparison.verdict}"
    elif comparison.verdict == "worse":
        detail = f"upper bound {high:+.2f} < -tolerance {floor:+.2f}: worse"
    else:
        detail = (
            f"lower bound {low:+.2f} < -tolerance {floor:+.2f} <= upper bound {high:+.2f}: undecided, "
            + (_more_needed(comparison.pairs_to_decide(), pairs))
        )
    return GateCheck("max_score_drop", passed, round(low, 4), floor, f"{stated}: {detail}")


def _more_needed(needed: int | None, pairs: int) -> str:
    if needed is None:
        return "more held-out queries would not decide it: the observed difference is the tolerance itself"
    more = max(needed - pairs, 1)
    beyond = f", beyond the {MAX_HOLDOUT:,} a run can hold out" if needed > MAX_HOLDOUT else ""
    return f"about {more:,} more held-out queries would decide it ({needed:,} in all{beyond})"


def _latency_check(
    distilled: ModelSummary, baseline: ModelSummary | None, thresholds: GateThresholds
) -> GateCheck:
    ratio = thresholds.max_p95_latency_ratio
    mine = distilled.latency.p95
    if baseline is None:
        return GateCheck(
            "max_p95_latency_ratio", None, mine, None, "p95 latency not compared: no baseline candidate"
        )
    if mine is None:
        return GateCheck(
            "max_p95_latency_ratio", False, None, None, "distilled model has no successful call to time"
        )
    theirs = baseline.latency.p95
    if theirs is None:
        return GateCheck(
            "max_p95_latency_ratio",
            False,
            mine,
            None,
            "baseline has no successful call: p95 latency cannot be compared",
        )
    limit = round(theirs * ratio, 3)
    ok = mine <= limit + _EPS
    digits = 0 if mine == limit else _decimals(mine, limit)
    return GateCheck(
        "max_p95_latency_ratio",
        ok,
        mine,
        limit,
        f"distilled p95 latency {mine:.{digits}f} ms {'<=' if ok else '>'} baseline p95 "
        f"{theirs:.{digits}f} ms x {ratio:g} = {limit:.{digits}f} ms",
    )


def _decimals(value: float, other: float) -> int:
    """The fewest decimals (up to 3, the precision latencies are kept at) that tell `value` from `other`,
    so a failed comparison never reads "33 ms > 33 ms"."""
    return next((digits for digits in range(3) if f"{value:.{digits}f}" != f"{other:.{digits}f}"), 3)


def _decide(checks: list[GateCheck], thresholds: GateThresholds) -> GateDecision:
    failed = [check for check in checks if check.passed is False]
    if failed:
        return GateDecision(
            False, [f"FAILED {check.name}: {check.message}" for check in failed], thresholds, checks
        )
    return GateDecision(True, [check.message for check in checks], thresholds, checks)
