"""Confidence intervals, paired verdicts and the held-out size's resolution (pure Python, stdlib only).

The statistics behind the report's intervals and the gate's non-inferiority check, on plain
numbers (`evidence` applies them to answer records). Standard library only (`random`,
`statistics`): numpy is not in the Lambda layer, and `vsr cost` imports this module too.

* `bootstrap_mean`: the mean of a list with its seeded percentile-bootstrap interval
  (RESAMPLES resamples of the same size, with replacement; the 2.5th and 97.5th percentiles
  of the resampled means). Used for means (rubric score, MAE) and for paired differences.
* `wilson`: the Wilson score interval of a proportion (JSON validity, dominant accuracy),
  exact enough at 0 % and 100 % where the normal approximation collapses.
* `verdict`: "better", "not worse", "worse" or "undecided" from a paired difference's
  interval and a tolerance (non-inferiority margin); boundaries are inclusive (a lower bound
  exactly at minus the tolerance is "not worse"), like every gate threshold.
* `detectable_difference`, `size_needed`: the smallest true difference a paired test at
  n pairs detects with 80 % power at a two-sided 5 % level (2.80 x sd / sqrt(n)), and the
  pairs needed to resolve a given difference.

Seeds are text (e.g. "<run_id>/distilled/mean_score"): `random.Random(str)` hashes text with
SHA-512, so the same answers give the same intervals in every process and on every machine.

Cost: one bootstrap draws RESAMPLES x n values (2,000 x 1,000 = 2 M draws for a 1,000-query
held-out set, about 0.2 s in CPython); a report bootstraps about 20 statistics (see
bench/bench_statistics.py). A constant list needs no resampling (its interval is the value).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

RESAMPLES = 2_000
CONFIDENCE = 0.95
POWER = 0.80
# z for a two-sided 5 % test plus z for 80 % power: 1.96 + 0.84 = 2.80.
POWER_FACTOR = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2) + NormalDist().inv_cdf(POWER)
_Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)
_EPS = 1e-9
DIGITS = 4

Verdict = Literal["better", "not worse", "worse", "undecided"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval over `n` observations (all None when there are none)."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """`{estimate, ci95: [lo, hi], n}` as report.json carries it (ci95 null without data)."""
        return {
            "estimate": _round(self.estimate),
            "ci95": None if self.low is None else [_round(self.low), _round(self.high)],
            "n": self.n,
        }


def bootstrap_mean(values: Sequence[float], seed: str, resamples: int = RESAMPLES) -> Interval:
    """The mean of `values` with its seeded percentile-bootstrap 95 % interval."""
    n = len(values)
    if not n:
        return Interval(None, None, None, 0)
    mean = math.fsum(values) / n
    if min(values) == max(values):
        return Interval(mean, mean, mean, n)
    draw = random.Random(seed).choices
    means = sorted(sum(draw(values, k=n)) / n for _ in range(resamples))
    tail = (1 - CONFIDENCE) / 2 * 100
    return Interval(mean, percentile(means, tail), percentile(means, 100 - tail), n)


def wilson(successes: int, n: int) -> Interval:
    """The proportion successes / n with its Wilson score 95 % interval."""
    if n <= 0:
        return Interval(None, None, None, 0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, {n}], got {successes}")
    p = successes / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 % and 100 % the bound is exactly 0 or 1 (the closed form leaves a rounding residue).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high, n)


def verdict(difference: Interval, tolerance: float, *, higher_is_better: bool = True) -> Verdict:
    """What a paired difference (a - b) says about a against b at this tolerance (>= 0).

    Oriented so that "better" means a is better: for a metric where lower is better (MAE) the
    interval is mirrored first. "better": lower bound > 0; "not worse": lower bound >= -tolerance;
    "worse": upper bound < -tolerance; otherwise "undecided" (the interval straddles -tolerance).
    """
    if difference.low is None or difference.high is None:
        return "undecided"
    low, high = (difference.low, difference.high) if higher_is_better else (-difference.high, -difference.low)
    if low > _EPS:
        return "better"
    if low >= -tolerance - _EPS:
        return "not worse"
    if high < -tolerance - _EPS:
        return "worse"
    return "undecided"


def standard_deviation(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))


def detectable_difference(sd: float, n: int) -> float | None:
    """The smallest true paired difference n pairs detect with 80 % power at 5 %: 2.80 x sd / sqrt(n)."""
    if n <= 0:
        return None
    return POWER_FACTOR * sd / math.sqrt(n)


def size_needed(sd: float, difference: float) -> int | None:
    """Pairs needed so that `difference` is resolved with 80 % power at 5 %: ceil((2.80 x sd / d)^2).

    None when `difference` is 0 (no size resolves it); at least 2 (a standard deviation needs two).
    """
    if abs(difference) < _EPS:
        return None
    return max(2, math.ceil((POWER_FACTOR * sd / abs(difference)) ** 2))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)
