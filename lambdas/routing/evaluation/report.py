"""report.json: the one document that answers "is the new router as good as the old one,
how much faster and cheaper, and was it promoted?".

The schema (`report.schema.json` next to this module, JSON Schema draft 2020-12) is a
public contract: the operator CLI and the notification read it. `schema_version` changes
only with an incompatible change; new optional keys may be added within a version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..observability import sns_subject
from .gate import GateDecision
from .metrics import ModelSummary

if TYPE_CHECKING:
    from ..settings import PromotionPolicy

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
EVIDENCE_KEYS = ("candidates", "comparisons", "resolution", "breakdown")
CANDIDATE_LABELS = {"distilled": "Distilled student", "student": "Base student", "baseline": "Baseline",
                    "local": "Tier-0 local model", "teacher": "Teacher"}  # fmt: skip


# recommended_max_tokens: the distilled model's p99 output tokens x this margin, rounded up to a
# multiple of MAX_TOKENS_STEP, at least MIN_RECOMMENDED_MAX_TOKENS. Bedrock reserves input + maxTokens
# against the model's tokens-per-minute quota when a call starts (docs/capacity.md), so a maxTokens
# close to what answers need leaves more of the quota to other calls.
MAX_TOKENS_MARGIN = 1.5
MAX_TOKENS_STEP = 32
MIN_RECOMMENDED_MAX_TOKENS = 64


def recommended_max_tokens(models: Sequence[ModelSummary]) -> int | None:
    """The router's maxTokens the distilled model's measured answers call for; None without its answers."""
    distilled = next((model for model in models if model.candidate == "distilled"), None)
    p99 = distilled.output_tokens_p99 if distilled else None
    if p99 is None:
        return None
    stepped = math.ceil(p99 * MAX_TOKENS_MARGIN / MAX_TOKENS_STEP) * MAX_TOKENS_STEP
    return max(MIN_RECOMMENDED_MAX_TOKENS, stepped)


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def headline(models: Sequence[ModelSummary]) -> dict[str, Any]:
    """The distilled model against the baseline: score difference, speed-up, cost ratio."""
    by_name = {model.candidate: model for model in models}
    distilled, baseline = by_name.get("distilled"), by_name.get("baseline")
    result: dict[str, Any] = {
        "compared_with": "baseline" if baseline else None,
        "score_delta": None,
        "judge_score_delta": None,
        "latency_p50_speedup": None,
        "latency_p95_speedup": None,
        "cost_ratio": None,
    }
    if not distilled or not baseline:
        return result
    result["score_delta"] = round(distilled.mean_score - baseline.mean_score, 4)
    if distilled.judge_mean_score is not None and baseline.judge_mean_score is not None:
        result["judge_score_delta"] = round(distilled.judge_mean_score - baseline.judge_mean_score, 4)
    result["latency_p50_speedup"] = _ratio(baseline.latency.p50, distilled.latency.p50)
    result["latency_p95_speedup"] = _ratio(baseline.latency.p95, distilled.latency.p95)
    result["cost_ratio"] = _ratio(distilled.cost_per_1m_queries_usd, baseline.cost_per_1m_queries_usd)
    return result


def build_report(
    *,
    run_id: str,
    dataset: Mapping[str, int],
    models: Sequence[ModelSummary],
    judge: Mapping[str, Any],
    gate: GateDecision,
    evidence: Mapping[str, Any] | None = None,
    warnings: Sequence[str],
    offline_stand_in: bool,
    modalities: Sequence[str],
    inference: Mapping[str, Any],
    artifacts: Mapping[str, str],
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report.json document (see report.schema.json for every key).

    `evidence` is `evidence.Evidence.to_dict()`: its candidates, comparisons, resolution and
    breakdown become top-level keys.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "offline_stand_in": offline_stand_in,
        "dataset": {
            "train_count": int(dataset.get("train_count", 0)),
            "holdout_count": int(dataset.get("holdout_count", 0)),
            "failed_batches": int(dataset.get("failed_batches", 0)),
        },
        "modalities": list(modalities),
        "inference": dict(inference),
        "models": [model.to_dict() for model in models],
        "headline": headline(models),
        "recommended_max_tokens": recommended_max_tokens(models),
        "judge": dict(judge),
        "gate": gate.to_dict(),
        **{key: evidence[key] for key in EVIDENCE_KEYS if evidence and key in evidence},
        "warnings": list(warnings),
        "artifacts": dict(artifacts),
    }


def summary_line(report: Mapping[str, Any]) -> str:
    """One sentence for the notification and logs."""
    models = {model["candidate"]: model for model in report["models"]}
    distilled = models.get("distilled")
    baseline = models.get("baseline")
    verdict = "Gate PASSED" if report["gate"]["passed"] else "Gate FAILED"
    if not distilled:
        return f"{verdict}: the distilled model was not evaluated."
    parts = [f"distilled mean score {distilled['mean_score']:.2f}/5"]
    if baseline:
        parts[0] += f" vs baseline {baseline['mean_score']:.2f}/5"
        difference = (report.get("comparisons") or {}).get("distilled_vs_baseline", {}).get("mean_score")
        if difference and difference["ci95"]:
            low, high = difference["ci95"]
            parts[0] += f" (difference 95 % CI {low:+.2f} to {high:+.2f}: {difference['verdict']})"
        p50_d, p50_b = distilled["latency_ms"]["p50"], baseline["latency_ms"]["p50"]
        if p50_d is not None and p50_b is not None:
            parts.append(f"p50 latency {p50_d:.0f} ms vs {p50_b:.0f} ms")
        cost_d, cost_b = distilled["cost_per_1m_queries_usd"], baseline["cost_per_1m_queries_usd"]
        if cost_d is not None and cost_b is not None:
            parts.append(f"${cost_d:,.2f} vs ${cost_b:,.2f} per 1M routed queries")
    prefix = "[OFFLINE STAND-IN, not model results] " if report.get("offline_stand_in") else ""
    return f"{prefix}{verdict}: " + "; ".join(parts) + "."


def notification(
    report: Mapping[str, Any], *, link: str, model_id: str | None, on_pass: PromotionPolicy | None = None
) -> tuple[str, str]:
    """(subject, message) of the run-outcome notification; `on_pass` says what a pass does (default: promote)."""
    passed = report["gate"]["passed"]
    offline = report.get("offline_stand_in")
    subject = f"{'[offline] ' if offline else ''}Router distillation {report['run_id']}: gate {'passed' if passed else 'failed'}"
    lines = [summary_line(report), ""]
    if passed and on_pass is not None and on_pass.on_pass != "promote":
        finish = on_pass.auto_finish_after
        after = [
            *([f"{finish.queries:,} candidate queries"] if finish and finish.queries else []),
            *([f"{finish.hours:g} h"] if finish and finish.hours else []),
        ]
        lines.append(
            f"A {on_pass.on_pass} rollout of {model_id} starts for {on_pass.percent:g} % of queries: the active "
            "model keeps serving"
            + (" the rest" if on_pass.on_pass == "canary" else " every answer")
            + ". Any rollout alarm aborts it; "
            + (f"it finishes by itself after {' or '.join(after)} with no alarm" if after else "finish it with "
               "`vsr rollout --finish`")
            + " (docs/rollout.md)."
        )  # fmt: skip
    elif passed:
        lines.append(
            f"The router switches to {model_id} within its cache age (active-model parameter updated)."
        )
    else:
        lines.append("The active model is unchanged. Failed thresholds:")
    lines.extend(f"- {reason}" for reason in report["gate"]["reasons"])
    judge = report.get("judge") or {}
    if judge.get("status") not in {None, "Completed", "Skipped"}:
        lines.append(f"LLM judge: {judge.get('status')} ({judge.get('failure') or 'see the report'}).")
    for warning in report.get("warnings") or []:
        lines.append(f"Warning: {warning}")
    lines += ["", f"Report: {link}"]
    subject = sns_subject(subject)
    return subject, "\n".join(lines)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 4)
