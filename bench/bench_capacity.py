"""Capacity benchmark: the capacity table of docs/capacity.md, from the capacity model. In process, no AWS.

For 17, 50, 200 and 1,000 queries/s it simulates the repository's cdk.json deployment with the model's
defaults (docs/capacity.md: Zipf head, quotas, latencies, tier-0 confident share, seed 1) three ways:
today (the per-container cache), with the shared cache, and with the shared cache and tier-0; and prints,
for each, the share answered (model, a cache or a confident tier-0 answer) and the share left to the
heuristic, as a Markdown table (stdout; `make docs` copies it into docs/capacity.md). The simulated
requests per wall-clock second go to stderr: the table does not depend on the machine, the speed does.

Run: `.venv/bin/python bench/bench_capacity.py` (`--rates 17,1000` for others).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "lambdas" / "router"), str(ROOT)]

from cdk_app.config import load_config  # noqa: E402
from cdk_app.operator import capacity  # noqa: E402
from cdk_app.operator.capacity_inputs import base_scenario  # noqa: E402

RATES = (17, 50, 200, 1000)
COLUMNS = (("today", False, False), ("shared cache", True, False), ("shared cache + tier-0", True, True))


def table(rates: tuple[float, ...]) -> tuple[str, int, float]:
    """(the Markdown table, requests simulated, seconds it took)."""
    config = load_config(json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"])
    lines = [
        "| q/s | " + " | ".join(f"{name}: answered / heuristic" for name, _, _ in COLUMNS) + " |",
        "|---:|" + "---:|" * len(COLUMNS),
    ]
    simulated, started = 0, time.perf_counter()
    for rate in rates:
        cells = []
        for _name, shared, tier0 in COLUMNS:
            scenario = base_scenario(config, float(rate), shared_cache=shared, tier0=tier0)
            result = capacity.simulate(scenario)
            simulated += round(rate * (scenario.effective_warmup_s + scenario.duration_s))
            goal = "" if result.meets_goals else " ✗"
            cells.append(f"{result.answered_share:.1%} / {result.heuristic_share:.1%}{goal}")
        lines.append(f"| {rate:,g} | " + " | ".join(cells) + " |")
    scenario = base_scenario(config, 1.0, tier0=True)
    lines += [
        "",
        f"Goal: answered >= {capacity.GOAL_ANSWERED:.0%} and heuristic only <= {capacity.GOAL_HEURISTIC:.0%}"
        " (✗: not met). Defaults: "
        f"{scenario.mix.describe()}; active model {scenario.active_quota.requests_per_minute:,.0f} requests and "
        f"{scenario.active_quota.tokens_per_minute:,.0f} tokens per minute, fallback "
        f"{scenario.fallback_quota.requests_per_minute:,.0f} and {scenario.fallback_quota.tokens_per_minute:,.0f}"
        f"; tier-0 confident on {scenario.tier0_confident_share:.0%} of queries (an assumption until measured); "
        f"maxTokens {scenario.max_tokens}; shared cache TTL {scenario.shared_ttl_s:,.0f} s (a {capacity.MAX_WARMUP_S:g} s "
        f"warm-up: its hit share is a lower bound); seed {scenario.seed}.",
    ]
    return "\n".join(lines), simulated, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default=",".join(str(rate) for rate in RATES))
    args = parser.parse_args()
    rates = tuple(float(rate) for rate in args.rates.split(","))
    text, simulated, seconds = table(rates)
    print(text)
    print(f"capacity model: {simulated:,} requests simulated in {seconds:.1f} s "
          f"({simulated / seconds:,.0f} per second)", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
