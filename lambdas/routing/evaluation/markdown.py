"""report.md: the report as Markdown (rendered from report.json alone).

Also the text both renderings share (html imports it): the side-by-side columns, the headline
sentences, and the evidence tables (intervals, paired comparisons, resolution, breakdown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .gold_report import REFERENCES
from .local_report import local_model_lines
from .report import CANDIDATE_LABELS

OFFLINE_BANNER = (
    "OFFLINE STAND-IN: these answers came from the local dry run's stand-in for Amazon Bedrock. "
    "The numbers show that the pipeline works; they are NOT model results."
)


def fmt_number(value: float | None, pattern: str = "{:.2f}", missing: str = "n/a") -> str:
    return missing if value is None else pattern.format(value)


def fmt_ms(value: float | None) -> str:
    return fmt_number(value, "{:,.0f} ms")


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "n/a (no price)"
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def fmt_pct(value: float | None) -> str:
    return fmt_number(value, "{:.1%}")


def label(model: Mapping[str, Any]) -> str:
    return CANDIDATE_LABELS.get(model["candidate"], model["candidate"])


TABLE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Mean score (1-5)", lambda m: fmt_number(m["mean_score"])),
    ("LLM judge (1-5)", lambda m: fmt_number(m["judge_mean_score"])),
    ("JSON validity", lambda m: fmt_pct(m["json_validity"])),
    ("Dominant accuracy", lambda m: fmt_pct(m["dominant_accuracy"])),
    ("MAE", lambda m: fmt_number(m["mae"], "{:.3f}")),
    ("p50", lambda m: fmt_ms(m["latency_ms"]["p50"])),
    ("p95", lambda m: fmt_ms(m["latency_ms"]["p95"])),
    ("p99", lambda m: fmt_ms(m["latency_ms"]["p99"])),
    ("Cost / 1M queries", lambda m: fmt_usd(m["cost_per_1m_queries_usd"])),
    ("Errors", lambda m: f"{m['errors']} / {m['answers']}"),
)


# The metrics with intervals: (title, key, format of a value, format of a difference).
INTERVAL_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("Mean score", "mean_score", "{:.2f}", "{:+.2f}"),
    ("MAE", "mae", "{:.3f}", "{:+.3f}"),
    ("Dominant accuracy", "dominant_accuracy", "{:.1%}", "{:+.1%}"),
    ("JSON validity", "json_validity", "{:.1%}", "{:+.1%}"),
)
INTERVALS_NOTE = (
    "95 % intervals: percentile bootstrap over the held-out queries (2,000 resamples, seeded by the run id) "
    "for the mean score and MAE, Wilson score intervals for the proportions."
)


def ci_text(entry: Mapping[str, Any] | None, pattern: str = "{:.2f}") -> str:
    """ "4.12 [3.98, 4.25]", or "n/a" without data."""
    if not entry or entry.get("estimate") is None or not entry.get("ci95"):
        return "n/a"
    low, high = entry["ci95"]
    return f"{pattern.format(entry['estimate'])} [{pattern.format(low)}, {pattern.format(high)}]"


def candidate_label(name: str) -> str:
    return CANDIDATE_LABELS.get(name, name)


def interval_rows(report: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(candidate, one "estimate [low, high]" per INTERVAL_METRICS) for every candidate with intervals."""
    rows = []
    for name, entry in (report.get("candidates") or {}).items():
        intervals = entry["intervals"]
        rows.append((name, [ci_text(intervals[key], value) for _, key, value, _ in INTERVAL_METRICS]))
    return rows


COMPARISON_COLUMNS = ("Comparison", "Metric", "Difference", "95 % CI", "Tolerance", "Verdict")


def comparison_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """One row per comparison and metric: the paired difference a - b, its interval, tolerance, verdict."""
    rows = []
    for name, metrics in (report.get("comparisons") or {}).items():
        a, _, b = name.partition("_vs_")
        for title, key, _, difference in INTERVAL_METRICS:
            entry = metrics[key]
            low_high = (
                f"{difference.format(entry['ci95'][0])} to {difference.format(entry['ci95'][1])}"
                if entry["ci95"]
                else "n/a"
            )
            estimate = "n/a" if entry["estimate"] is None else difference.format(entry["estimate"])
            better = "" if entry["better"] == "higher" else " (lower is better)"
            tolerance = difference.format(entry["tolerance"]).lstrip("+") if entry["tolerance"] else "0"
            rows.append([f"{candidate_label(a)} vs {candidate_label(b)}", title + better, estimate, low_high,
                         tolerance, entry["verdict"]])  # fmt: skip
    return rows


def resolution_sentence(report: Mapping[str, Any]) -> str | None:
    """What the held-out size can tell apart on the gate's comparison, and the size the tolerance needs."""
    found = report.get("resolution")
    if not found or found.get("sd") is None:
        return None
    a, _, b = found["comparison"].partition("_vs_")
    if not found["sd"]:
        return (
            f"Resolution: every one of the {found['pairs']} paired queries scored the same for "
            f"{candidate_label(a)} and {candidate_label(b)}; with no spread in the differences this run "
            "cannot estimate the held-out size a tolerance needs."
        )
    needed = found["pairs_needed"]
    sentence = (
        f"Resolution: {found['pairs']} paired queries ({candidate_label(a)} vs {candidate_label(b)}, standard "
        f"deviation of the per-query score differences {found['sd']:.2f}) detect a true difference of "
        f"{found['detectable_difference']:.2f} with 80 % power at 5 %"
    )
    if needed is not None:
        sentence += f"; the tolerance {found['tolerance']:g} needs {needed:,} held-out queries"
        if needed > found["holdout_limit"]:
            sentence += f", more than the {found['holdout_limit']:,} a run can hold out"
        sentence += f"; vsr cost --assume paired_score_sd={found['sd']:.2f} prices that size"
    return sentence + "."


def breakdown_rows(report: Mapping[str, Any], key: str, pattern: str) -> tuple[list[str], list[list[str]]]:
    """(candidates, rows of [modality, then "n: estimate [low, high]" per candidate]) for one metric."""
    found = report.get("breakdown") or {}
    candidates = list(next(iter(found.values()), {}))
    rows = []
    for modality, per_candidate in found.items():
        cells = []
        for name in candidates:
            entry = per_candidate[name]
            cells.append(ci_text(entry["intervals"][key], pattern) if entry["n"] else "-")
        rows.append([f"{modality} ({next(iter(per_candidate.values()))['n']})", *cells])
    return candidates, rows


def headline_sentences(report: Mapping[str, Any]) -> list[str]:
    """Plain answers to "as good as the baseline? how much faster? how much cheaper?"."""
    models = {model["candidate"]: model for model in report["models"]}
    distilled, baseline = models.get("distilled"), models.get("baseline")
    if not distilled or not baseline:
        return ["No baseline was evaluated, so there is no comparison with the incumbent."]
    head = report.get("headline") or {}
    quality = (
        f"Quality: distilled mean score {distilled['mean_score']:.2f}/5 vs baseline {baseline['mean_score']:.2f}/5 "
        f"({head.get('score_delta') or 0.0:+.2f}"
    )
    difference = (report.get("comparisons") or {}).get("distilled_vs_baseline", {}).get("mean_score")
    if difference and difference["ci95"]:
        low, high = difference["ci95"]
        quality += (
            f", paired 95 % CI {low:+.2f} to {high:+.2f} over {difference['n']} queries: {difference['verdict']}"
            f" at a tolerance of {difference['tolerance']:g}"
        )
    out = [quality + ")"]
    if distilled["judge_mean_score"] is not None and baseline["judge_mean_score"] is not None:
        out.append(
            f"LLM judge: {distilled['judge_mean_score']:.2f}/5 vs {baseline['judge_mean_score']:.2f}/5"
        )
    d_lat, b_lat = distilled["latency_ms"], baseline["latency_ms"]
    if d_lat["p50"] is not None and b_lat["p50"] is not None:
        speed = head.get("latency_p50_speedup")
        out.append(
            f"Speed: p50 latency {fmt_ms(d_lat['p50'])} vs {fmt_ms(b_lat['p50'])}"
            + (
                f" ({speed:.1f}x faster)"
                if speed and speed >= 1
                else f" ({1 / speed:.1f}x slower)"
                if speed
                else ""
            )
            + f"; p95 {fmt_ms(d_lat['p95'])} vs {fmt_ms(b_lat['p95'])}"
        )
    d_cost, b_cost = distilled["cost_per_1m_queries_usd"], baseline["cost_per_1m_queries_usd"]
    if d_cost is not None and b_cost is not None:
        ratio = head.get("cost_ratio")
        out.append(
            f"Cost: {fmt_usd(d_cost)} vs {fmt_usd(b_cost)} per 1M routed queries"
            + (f" ({ratio:.1%} of the baseline's cost)" if ratio is not None else "")
        )
    return [sentence + "." for sentence in out]


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def code_span(text: str) -> str:
    """`text` as inline code, whatever backticks or markup it holds (CommonMark: a longer backtick fence)."""
    flat = " ".join(text.split())
    fence = "`" * (_longest_run(flat, "`") + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def fenced(text: str) -> list[str]:
    """`text` verbatim in a fenced block longer than any backtick run inside it (nothing in it renders)."""
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    return [fence + "text", *text.splitlines(), fence]


def invalid_answer_lines(models: Sequence[Mapping[str, Any]]) -> list[str]:
    """The "Invalid answers" section: a few raw answers per model that did not parse, and why."""
    lines = [
        "",
        "## Invalid answers",
        "",
        "Answers the parser could not turn into a routing decision (they score 1).",
    ]
    for model in models:
        samples = model.get("invalid_samples") or []
        invalid = model["answers"] - round(model["json_validity"] * model["answers"])
        lines += ["", f"### {label(model)}: {invalid} of {model['answers']} answers invalid", ""]
        if not samples:
            lines.append("Every answer parsed.")
        for sample in samples:
            lines.append(f"- query #{sample['index']} {code_span(sample['query'])}: {sample['reason']}")
            if sample["answer"] is None:
                lines.append("  (no answer: the call failed)")
                continue
            lines += [""] + ["  " + line if line else "" for line in fenced(sample["answer"])]
            if sample["truncated"]:
                lines.append("  (cut; the whole answer is in evaluation/results.jsonl)")
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table: the first `text_columns` columns left-aligned, the numbers right-aligned."""
    align = "|" + "---|" * text_columns + "---:|" * (len(header) - text_columns)
    return ["| " + " | ".join(header) + " |", align, *("| " + " | ".join(row) + " |" for row in rows)]


def evidence_lines(report: Mapping[str, Any]) -> list[str]:
    """Intervals, paired comparisons with verdicts, resolution and the per-modality breakdown."""
    rows = interval_rows(report)
    if not rows:
        return []
    lines = ["", "## How sure: 95 % intervals", "", INTERVALS_NOTE, ""]
    lines += _table(["Model", *(title for title, *_ in INTERVAL_METRICS)],
                    [[candidate_label(name), *cells] for name, cells in rows])  # fmt: skip
    comparisons = comparison_rows(report)
    if comparisons:
        lines += ["", "## Paired comparisons", "",
                  "Per held-out query, the first model's value minus the second's (same queries, same references). "
                  "Verdicts: better (lower bound > 0), not worse (lower bound >= -tolerance), worse (upper bound < "
                  "-tolerance), otherwise undecided at this size. The mean score's tolerance is the gate's "
                  "`max_score_drop`; the other metrics have none (0).", ""]  # fmt: skip
        lines += _table(COMPARISON_COLUMNS, comparisons, text_columns=2)
    sentence = resolution_sentence(report)
    if sentence:
        lines += ["", sentence]
    for title, key, pattern, _ in INTERVAL_METRICS[::2]:  # mean score and dominant accuracy
        candidates, breakdown = breakdown_rows(report, key, pattern)
        if breakdown:
            lines += ["", f"## {title} by reference dominant modality (queries)", ""]
            lines += _table(["Modality", *(candidate_label(name) for name in candidates)], breakdown)
    return lines


def render_markdown(report: Mapping[str, Any], *, html_link: str | None = None) -> str:
    lines: list[str] = []
    if report.get("offline_stand_in"):
        lines += [f"> **{OFFLINE_BANNER}**", ""]
    lines += [f"# Router distillation run `{report['run_id']}`", ""]
    gate = report["gate"]
    verdict = (
        "**Gate PASSED**: the distilled model is promoted to the router."
        if gate["passed"]
        else "**Gate FAILED**: the active model is unchanged."
    )
    lines += [verdict, ""]
    lines += [f"- {sentence}" for sentence in headline_sentences(report)]
    lines += [
        "",
        f"Held-out queries: {report['dataset']['holdout_count']} (training examples: {report['dataset']['train_count']}). "
        f"Generated {report['generated_at']}.",
        "",
        "## Side by side",
        "",
        "| Model | " + " | ".join(title for title, _ in TABLE_COLUMNS) + " |",
        "|---|" + "---:|" * len(TABLE_COLUMNS),
    ]
    for model in report["models"]:
        cells = " | ".join(render(model) for _, render in TABLE_COLUMNS)
        lines.append(f"| {label(model)} (`{model['model_id']}`) | {cells} |")
    lines += reference_lines(report)
    lines += evidence_lines(report)
    lines += gold_lines(report)
    lines += local_model_lines(report)
    lines += [
        "",
        "## Score distribution",
        "",
        "| Model | 5 | 4 | 3 | 2 | 1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model in report["models"]:
        dist = model["score_distribution"]
        lines.append(
            f"| {label(model)} | " + " | ".join(str(dist[str(score)]) for score in range(5, 0, -1)) + " |"
        )
    lines += ["", "## Quality gate", ""]
    thresholds = gate["thresholds"]
    lines.append(
        f"Thresholds: mean score >= {thresholds['min_mean_score']}, the paired score difference's 95 % lower bound "
        f"at least -{thresholds['max_score_drop']} (non-inferiority to the baseline), JSON validity >= {thresholds['min_json_validity']:.0%}, p95 latency <= "
        f"{thresholds['max_p95_latency_ratio']:g} x the baseline's."
    )
    lines.append("")
    for check in gate.get("checks", []):
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[check["passed"]]
        lines.append(f"- {mark} `{check['name']}`: {check['message']}")
    judge = report["judge"]
    lines += ["", "## LLM judge", ""]
    status = judge["status"]
    if status == "Skipped":
        lines.append(f"Skipped ({judge.get('failure') or 'turned off for this run'}).")
    else:
        lines.append(f"Status: {status}; job `{judge.get('job_arn') or judge.get('job_name') or 'n/a'}`.")
        if judge.get("failure"):
            lines.append(f"Failure: {judge['failure']}")
        if judge.get("prompts_per_candidate") is not None:
            lines.append(
                f"Queries judged per candidate: {judge['prompts_per_candidate']} (metric `{judge.get('metric', 'OverallQuality')}`)."
            )
    errors = [(label(model), model.get("error_samples") or []) for model in report["models"]]
    if any(samples for _, samples in errors):
        lines += ["", "## Errors", ""]
        lines += [f"- {name}: {', '.join(samples)}" for name, samples in errors if samples]
    lines += invalid_answer_lines(report["models"])
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {warning}" for warning in report["warnings"]]
    if html_link:
        lines += ["", f"Charts: [report.html]({html_link})"]
    return "\n".join(lines) + "\n"


# The gold section: each number with the references it was measured against.
def _with_ci(numbers: Mapping[str, Any], metric: str, pattern: str) -> str:
    """The figure, and its 95 % interval in brackets when the report has one."""
    text = fmt_number(numbers[metric], pattern)
    ci = (numbers.get("ci95") or {}).get(metric)
    return f"{text} [{pattern.format(ci[0])}, {pattern.format(ci[1])}]" if ci else text


REFERENCE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Queries", lambda n: str(n["answers"])),
    ("Mean score (1-5)", lambda n: _with_ci(n, "mean_score", "{:.2f}")),
    ("Dominant accuracy", lambda n: _with_ci(n, "dominant_accuracy", "{:.1%}")),
    ("MAE", lambda n: _with_ci(n, "mae", "{:.3f}")),
    ("JSON validity", lambda n: _with_ci(n, "json_validity", "{:.1%}")),
)
REFERENCE_ROWS = (("teacher_fidelity", "Teacher fidelity"), ("gold_accuracy", "Gold accuracy"))


def references_sentence(report: Mapping[str, Any]) -> str:
    """Which references the numbers use, and which the gate decided on."""
    gold = report.get("gold")
    gate = (report.get("references") or {}).get("gate", "teacher")
    text = f"References: the table above is {REFERENCES['teacher']}."
    if gold:
        text += f" The gold set ({gold['count']} queries of {gold['s3_uri']}) gives {REFERENCES['gold']}."
    else:
        text += " No gold set was given (gold_s3_uri): no number here is measured against human labels."
    return text + f" The gate decided on {'gold accuracy' if gate == 'gold' else 'teacher fidelity'}."


def leak_sentence(report: Mapping[str, Any]) -> str | None:
    leaks = report["dataset"].get("leaks")
    if not leaks:
        return None
    return (
        f"Kept out of training: {leaks.get('gold', 0)} examples whose query is in the gold set, "
        f"{leaks.get('holdout', 0)} whose query is held out."
    )


def reference_lines(report: Mapping[str, Any]) -> list[str]:
    """Which references the numbers use, and what was kept out of training."""
    lines = ["", references_sentence(report)]
    leaks = leak_sentence(report)
    return [*lines, "", leaks] if leaks else lines


def gold_lines(report: Mapping[str, Any]) -> list[str]:
    """With a gold set: teacher fidelity and gold accuracy side by side, each figure with its 95 % interval."""
    gold = report.get("gold")
    if not gold:
        return []
    lines = [
        "",
        "## Teacher fidelity and gold accuracy",
        "",
        "Each figure under both references, with its 95 % interval in brackets (same methods as above).",
        "",
        "| Model | Reference | " + " | ".join(title for title, _ in REFERENCE_COLUMNS) + " |",
        "|---|---|" + "---:|" * len(REFERENCE_COLUMNS),
    ]
    for row in gold["side_by_side"]:
        name = CANDIDATE_LABELS.get(row["candidate"], row["candidate"])
        for key, title in REFERENCE_ROWS:
            numbers = row[key]
            cells = (
                " | ".join(render(numbers) for _, render in REFERENCE_COLUMNS)
                if numbers
                else " | ".join("n/a" for _ in REFERENCE_COLUMNS)
            )
            lines.append(f"| {name} | {title} | {cells} |")
    return lines
