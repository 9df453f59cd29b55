"""Statistics benchmark: what the report's intervals cost at the largest held-out set. In process, no AWS.

Builds answer records for `--holdout` queries x 3 candidates (a mix of rubric scores, some
invalid answers), then times `evidence.gather` (the Report step's statistics: per-candidate
intervals, two paired comparisons of four metrics, the per-modality breakdown) and prints
the work it did in resampled draws, so a figure can be checked against another machine.

Run: `.venv/bin/python bench/bench_statistics.py` (default: 1,000 held-out queries, the limit).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT)]

from routing import LabelledExample, RoutingDecision  # noqa: E402
from routing.converse import ConverseResult  # noqa: E402
from routing.evaluation.answering import CallOutcome, Candidate  # noqa: E402
from routing.evaluation.evidence import COMPARED, METRICS, gather  # noqa: E402
from routing.evaluation.intervals import RESAMPLES  # noqa: E402
from routing.evaluation.records import make_record  # noqa: E402

MODALITIES = ["visual", "audio", "transcription", "metadata"]
CANDIDATES = ("distilled", "student", "baseline")


def records(holdout: int, seed: int = 7) -> dict[str, list]:
    """Per candidate, one record per query: exact, shifted by a random amount, or prose (invalid)."""
    draw = random.Random(seed)
    by_candidate: dict[str, list] = {name: [] for name in CANDIDATES}
    for index in range(holdout):
        dominant = MODALITIES[index % 4]
        reference = {m: (0.55 if m == dominant else 0.15) for m in MODALITIES}
        example = LabelledExample(f"query {index}", RoutingDecision.from_weights(reference))
        for name in CANDIDATES:
            if draw.random() < (0.3 if name == "student" else 0.02):
                text = "Sure! The weights depend on the query."
            else:
                shift = draw.choice([0.0, 0.0, 0.04, 0.08, 0.12, 0.2])
                following = MODALITIES[(index + 1) % 4]
                answer = {**reference, dominant: 0.55 - shift, following: 0.15 + shift}
                text = json.dumps({**answer, "reasoning": "r"})
            outcome = CallOutcome(ConverseResult(text, "end_turn", 60, 40, 100.0, 90.0), None, 1)
            by_candidate[name].append(
                make_record(Candidate(name, f"{name}.model"), index, example, outcome, MODALITIES)
            )
    return by_candidate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdout", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = records(args.holdout)
    bootstrapped = [metric for metric in METRICS if not metric.proportion]
    # per candidate and over the breakdown's groups (together the same n): the bootstrapped metrics;
    # per comparison: every metric (paired differences are bootstrapped, proportions too)
    statistics = len(CANDIDATES) * len(bootstrapped) * 2 + len(COMPARED) * len(METRICS)
    draws = statistics * RESAMPLES * args.holdout
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        gather(data, modalities=MODALITIES, tolerances={"mean_score": 0.25}, seed="bench", holdout_limit=1000)
        timings.append(time.perf_counter() - started)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"held-out queries: {args.holdout:,} x {len(CANDIDATES)} candidates, {RESAMPLES:,} resamples")
    print(f"work: at most {statistics} bootstrapped statistics, {draws:,} resampled draws")
    print(
        f"evidence.gather: best {min(timings):.2f} s of {args.repeat} (median {sorted(timings)[len(timings) // 2]:.2f} s)"
    )


if __name__ == "__main__":
    main()
