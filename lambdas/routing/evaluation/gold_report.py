"""The report's `gold` section: teacher fidelity and gold accuracy side by side, each naming its reference.

Two references measure a candidate. The held-out set's are the teacher's own labels: its
numbers (report.json `models`) say how faithfully a candidate reproduces the teacher
("teacher fidelity"). The gold set's are labels written by people (`gold_s3_uri`): the same
summaries over its queries (`gold.models`, built by `metrics.summarise` like `models`, and
`gold.evidence`, built by `evidence.gather` like the held-out intervals, comparisons,
resolution and breakdown) say how accurate a candidate is ("gold accuracy"); the teacher answers the gold set as well (unless `gold_teacher` is off),
which says how good the labels the student learnt from are. `gate_reference` names the set
the gate decided on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..settings import GateReference
from .metrics import ModelSummary
from .report import EVIDENCE_KEYS

# What each reference is, as the report says it.
REFERENCES: Mapping[str, str] = {
    "teacher": "teacher fidelity (held-out queries, references = the teacher's labels)",
    "gold": "gold accuracy (gold-set queries, references = human labels)",
}
# The numbers the side-by-side table compares, under both references.
COMPARED = ("mean_score", "dominant_accuracy", "mae", "json_validity")


def _numbers(summary: ModelSummary | None, evidence: Mapping[str, Any]) -> dict[str, Any] | None:
    """One answerer's compared figures under one reference, each metric's 95 % interval beside them."""
    if summary is None:
        return None
    values = summary.to_dict()
    intervals = (evidence.get("candidates") or {}).get(summary.candidate, {}).get("intervals", {})
    return {
        "answers": summary.answers,
        **{name: values[name] for name in COMPARED},
        "ci95": {name: (intervals.get(name) or {}).get("ci95") for name in COMPARED},
    }


def gold_section(
    held_out: Sequence[ModelSummary],
    gold: Sequence[ModelSummary],
    held_out_evidence: Mapping[str, Any],
    gold_evidence: Mapping[str, Any],
    *,
    s3_uri: str | None,
    count: int,
    gate_reference: GateReference,
) -> dict[str, Any]:
    """report.json `gold`: the gold-set summaries and evidence and, per answerer, both references' numbers.

    The evidence arguments are `evidence.Evidence.to_dict()` of each query set.
    """
    by_held_out = {summary.candidate: summary for summary in held_out}
    names = list(dict.fromkeys([*by_held_out, *(summary.candidate for summary in gold)]))
    by_gold = {summary.candidate: summary for summary in gold}
    return {
        "s3_uri": s3_uri,
        "count": count,
        "gate_reference": gate_reference,
        "references": dict(REFERENCES),
        "models": [summary.to_dict() for summary in gold],
        "evidence": {key: gold_evidence.get(key) for key in EVIDENCE_KEYS},
        "side_by_side": [
            {
                "candidate": name,
                "teacher_fidelity": _numbers(by_held_out.get(name), held_out_evidence),
                "gold_accuracy": _numbers(by_gold.get(name), gold_evidence),
            }
            for name in names
        ],
    }


def with_gold(
    report: Mapping[str, Any],
    section: Mapping[str, Any] | None,
    *,
    gold_count: int,
    leaks: Mapping[str, int],
    gate_reference: GateReference,
) -> dict[str, Any]:
    """`report` with its `gold` section (None without a gold set), the dataset's leak counts and the
    reference of every number (`references`)."""
    return {
        **report,
        "dataset": {**report["dataset"], "gold_count": gold_count, "leaks": dict(leaks)},
        "references": {
            "models": REFERENCES["teacher"],
            "gold": REFERENCES["gold"] if section else None,
            "gate": gate_reference,
        },
        "gold": dict(section) if section else None,
    }


def gold_reasons(reasons: Sequence[str], gate_reference: GateReference) -> list[str]:
    """The gate's reasons; decided on the gold set, each says so (the notification quotes them)."""
    if gate_reference != "gold":
        return list(reasons)
    return [f"[gold set, human labels] {reason}" for reason in reasons]
