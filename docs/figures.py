"""Regenerates the figures the README and docs print, from the commands that produce them.

Each figure stands between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` in a Markdown
file; `make docs` (`python docs/figures.py`) rewrites every such block from its command:

- `cost`: the cost table, from `cdk_app.operator.cost` with the repository's `cdk.json` (what `vsr cost`
  prints); deterministic, so `tests/unit/test_docs.py` fails when it is stale.
- `dry-run`, `dry-run-summary`: excerpts of `make dry-run` with a fixed run id (the stand-in is seeded):
  the longer one in docs/dry-run.md, the shorter in the README.
- `dry-run-rollout`, `dry-run-rollout-summary`: the rollout stage of `make dry-run ARGS="--rollout canary"` (docs/rollout.md).
- `bench`: the tables of `make bench` (machine-dependent: regenerate on the machine you quote).
- `capacity`, `capacity-summary`: the capacity table of `bench/bench_capacity.py` (the seeded capacity model: the same on
  every machine; about 20 s, so no test recomputes it).

`python docs/figures.py cost` regenerates only the named figures.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- figures:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S)


def _config():
    from cdk_app.config import load_config

    return load_config(json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))["context"])


def cost_table() -> str:
    """The README's cost table, from the same estimate `vsr cost` prints."""
    from cdk_app.operator import cost

    config = _config()
    run = cost.estimate_run(config)
    by_stage = {line.stage: line for line in run.lines}

    def usd(stage: str) -> float:
        return by_stage[stage].usd or 0.0

    evaluation = sum(
        usd(stage) for stage in by_stage if stage.startswith("evaluation:") and "judge" not in stage
    )
    judge = usd("evaluation: LLM judge") if "evaluation: LLM judge" in by_stage else 0.0
    serving = {estimate.candidate: estimate.usd or 0.0 for estimate in cost.estimate_serving(config)}
    share = 100 * serving["distilled"] / serving["baseline"]
    candidates = sum(1 for stage in by_stage if stage.startswith("evaluation:") and "judge" not in stage)
    table = cost.estimate_shared_cache(config)
    return "\n".join([
        "| item | estimate |",
        "|---|---:|",
        f"| teacher generation ({by_stage['teacher generation'].calls:,} calls) | ${usd('teacher generation'):.2f} |",
        f"| distillation: teacher responses + training tokens | ${usd('distillation: teacher responses'):.2f}"
        f" + ${usd('distillation: training'):.2f} |",
        f"| evaluation ({config.holdout} held-out x {candidates} candidates) + LLM judge | ${evaluation:.2f} + ${judge:.2f} |",
        f"| custom model storage | ${run.storage_per_month_usd:.2f} per month per model |",
        f"| **one run, with one month of storage** | **about ${run.run_usd:.2f}** |",
        f"| serving 1M routed queries: distilled vs baseline | ${serving['distilled']:,.2f} vs ${serving['baseline']:,.2f}"
        f" ({share:.1f} %) |",
        f"| shared decision cache (optional), per 1M queries | ${table.usd:.2f}"
        + (f", sparing ${table.model_usd_spared:.2f} of model calls |" if table.model_usd_spared else " |"),
    ])  # fmt: skip


# The dry-run lines the README shows, in order: what a user sees at each stage of a run.
_DRY_RUN_LINES = (
    "local dry run",
    "model latencies are",
    "Plan: run",
    "PrepareDataset:",
    "CheckDistillation: job .* Completed",
    "CheckDeployment: deployment .* Active",
    "Evaluate: ",
    "Report: quality gate",
    "execution SUCCEEDED|execution FAILED",
    " distilled: mean score",
    "  student: mean score",
    " baseline: mean score",
    "report: ",
)


# The README's shorter excerpt of the same run: the plan, the gate, the outcome, the candidates.
_DRY_RUN_SUMMARY_LINES = (
    "local dry run",
    "Plan: run",
    "Report: quality gate",
    "execution SUCCEEDED|execution FAILED",
    " distilled: mean score",
    "  student: mean score",
    " baseline: mean score",
    "report: ",
)


@functools.cache
def _dry_run(run_id: str, *flags: str) -> tuple[str, ...]:
    """What a dry run with a fixed run id prints (each run once, whichever excerpts are asked for)."""
    with tempfile.TemporaryDirectory() as out:
        printed = subprocess.run(
            [sys.executable, "-m", "cdk_app.local.dry_run", "--run-id", run_id, *flags, "--out", out],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
    return tuple(line.replace(out, ".dry-run") for line in printed)


def _dry_run_output() -> tuple[str, ...]:
    """The default dry run."""
    return _dry_run("dry-run-readme")


def _dry_run_rollout_output() -> tuple[str, ...]:
    """`--rollout canary` (no judge: the rollout is the point)."""
    return _dry_run("dry-run-rollout", "--no-judge", "--rollout", "canary")


def _first(lines: tuple[str, ...], pattern: str) -> str | None:
    return next((line for line in lines if re.search(pattern, line)), None)


def _excerpt(patterns: tuple[str, ...]) -> str:
    picked = []
    for pattern in patterns:
        line = _first(_dry_run_output(), pattern)
        if line is not None:
            # The gate line lists every condition: the first one shows its shape.
            if "quality gate" in line and "; " in line:
                line = line.split("; ")[0] + "; ..."
            picked.append(line)
    return "```text\n" + "\n".join(picked) + "\n```"


# The elapsed seconds of each line depend on the machine: the README's excerpts leave them out.
_ELAPSED = re.compile(r"^(OFFLINE STAND-IN) +[0-9.]+s \|")


def dry_run_excerpt() -> str:
    """An excerpt of a default dry run with a fixed run id (the Generate and polling lines left out)."""
    return _excerpt(_DRY_RUN_LINES)


def dry_run_summary() -> str:
    """The README's excerpt of the same run (without the elapsed seconds: they depend on the machine)."""
    return "\n".join(_ELAPSED.sub(r"\1 |", line) for line in _excerpt(_DRY_RUN_SUMMARY_LINES).split("\n"))


def dry_run_rollout_excerpt() -> str:
    """The rollout stage of `--rollout canary`: from the Promote step to the parameter's history."""
    lines = _dry_run_rollout_output()
    first = next(index for index, line in enumerate(lines) if "| Promote:" in line)
    last = max(index for index, line in enumerate(lines) if "|   v" in line)
    picked = [lines[0], *(line for line in lines[1:] if "| rollout: promotion.on_pass" in line)]
    return "```text\n" + "\n".join([*picked, *lines[first : last + 1]]) + "\n```"


# The README's excerpt of the rollout stage: (pattern, where to cut the line, if anywhere).
_DRY_RUN_ROLLOUT_SUMMARY = (
    ("\\| Promote:", None),
    ("router t\\+10 min:", None),
    ("in ALARM \\(moto CloudWatch\\)", ": Threshold"),
    ("rollout: SNS", None),
    ("rollout: the parameter now", " (rollout_abort)"),
)


def dry_run_rollout_summary() -> str:
    """The README's excerpt of `--rollout canary`: start, traffic, the failing candidate, the alarm, the abort."""
    picked = []
    for pattern, cut in _DRY_RUN_ROLLOUT_SUMMARY:
        line = _first(_dry_run_rollout_output(), pattern)
        if line is not None:
            picked.append(_ELAPSED.sub(r"\1 |", line.split(cut, 1)[0] if cut else line))
    return "```text\n" + "\n".join(picked) + "\n```"


def _bench(script: str) -> str:
    """What `bench/<script>` prints (a `make bench` section)."""
    printed = subprocess.run(
        [sys.executable, str(REPO / "bench" / script)], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return printed.strip()


def bench_tables() -> str:
    """The router benchmark's tables, as `make bench` prints them."""
    return _bench("bench_router.py")


@functools.cache
def capacity_table() -> str:
    """The capacity table (docs/capacity.md), as `bench/bench_capacity.py` prints it (run once)."""
    return _bench("bench_capacity.py")


def capacity_summary() -> str:
    """The README's capacity table: the same table, its assumptions left to docs/capacity.md but tier-0's."""
    table, notes = capacity_table().split("\n\n", 1)
    tier0 = re.search(r"tier-0 confident on \d+% of queries", notes)
    assumed = f" ({tier0.group(0)}: assumed)" if tier0 else ""
    return (
        f"{table}\n\nAnswered: by the model, a cache or a confident tier-0 answer{assumed}; goal >= 95 %,"
        " heuristic <= 5 % (✗: not met)."
    )


FIGURES: dict[str, tuple[tuple[str, ...], Callable[[], str]]] = {
    "cost": (("README.md",), cost_table),
    "dry-run": (("docs/dry-run.md",), dry_run_excerpt),
    "dry-run-summary": (("README.md",), dry_run_summary),
    "dry-run-rollout": (("docs/rollout.md",), dry_run_rollout_excerpt),
    "dry-run-rollout-summary": (("README.md",), dry_run_rollout_summary),
    "bench": (("docs/router-api.md",), bench_tables),
    "capacity": (("docs/capacity.md",), capacity_table),
    "capacity-summary": (("README.md",), capacity_summary),
}


def blocks(text: str) -> dict[str, str]:
    """The figure blocks of a Markdown text, by name (their bodies, without the markers)."""
    return {match["name"]: match["body"].rstrip("\n") for match in BLOCK.finditer(text)}


def regenerate(names: list[str]) -> list[str]:
    """Rewrite the named figures (all when empty) in their files; returns the files changed."""
    changed = []
    for name in names or list(FIGURES):
        if name not in FIGURES:
            raise SystemExit(f"unknown figure {name!r}: the figures are {', '.join(FIGURES)}")
        files, render = FIGURES[name]
        body = render()
        for file in files:
            path = REPO / file
            text = path.read_text(encoding="utf-8")
            if name not in blocks(text):
                raise SystemExit(f"{file} has no <!-- figures:{name} --> block")
            updated = BLOCK.sub(
                lambda match, name=name, body=body: (
                    match.group(0) if match["name"] != name else f"{match.group(1)}{body}\n{match.group(4)}"
                ),
                text,
            )
            if updated != text:
                path.write_text(updated, encoding="utf-8")
                changed.append(file)
    return changed


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "lambdas")]
    for file in regenerate(sys.argv[1:]):
        print(f"updated {file}")
