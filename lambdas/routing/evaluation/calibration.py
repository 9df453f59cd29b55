"""The tier-0 model's confidence threshold, calibrated on the held-out set, and the report's `local_model`.

The router answers a query itself when the local model's confidence reaches the threshold, so its
confident answers must score like the distilled model's. Calibration: the held-out queries are split
in two halves by a stable hash of the normalised query (`half_of`: first byte of its SHA-256 even ->
"calibration", odd -> "report"). On the calibration half the threshold is the lowest value of `GRID`
at which at least `MIN_CONFIDENT` queries are confident and the local model's mean rubric score on
them is at least the distilled model's mean score on the same queries less `tolerance` (the gate's
`max_score_drop`, the same margin within which the gate calls the distilled model as good as the
baseline: "score like" it), and so it is at every higher value with that many confident queries.
The report half, which calibration never saw, gives the figures the report prints at that threshold: the share of its
queries that are confident and both models' mean scores on them. No threshold on the grid: `threshold`
is null and no tier-0 model is promoted with the run (`local_model_ref` is None: the router then has
no tier-0, neither for confident answers nor when the model cannot answer; docs/evaluation.md).

The held-out references are the teacher's labels (teacher fidelity), like every number of `models`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..contract import normalise_query
from ..settings import LOCAL
from .records import AnswerRecord

GRID: tuple[float, ...] = tuple(round(step / 100, 2) for step in range(101))
# Fewer confident calibration queries than this say too little to set a threshold on.
MIN_CONFIDENT = 10
# The confidence levels the report's curve shows (calibration half).
CURVE = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
METHOD = (
    "held-out queries split by SHA-256 of the normalised query (even first byte: calibration, odd: report); "
    f"threshold = the lowest of 0.00, 0.01, ..., 1.00 at which at least {MIN_CONFIDENT} calibration queries "
    "are confident and the local model's mean rubric score on them >= the distilled model's on the same "
    "queries less the gate's max_score_drop, and so at every higher level with that many; the confident "
    "share and mean scores are measured on the report half"
)


def half_of(query: str) -> str:
    """ "calibration" or "report": the stable half of the held-out set a query belongs to."""
    return "calibration" if hashlib.sha256(normalise_query(query).encode()).digest()[0] % 2 == 0 else "report"


def _mean(values: Sequence[float]) -> float | None:
    return round(math.fsum(values) / len(values), 4) if values else None


def _confident(pairs: Sequence[tuple[AnswerRecord, AnswerRecord]], threshold: float) -> list[tuple[int, int]]:
    """(local score, distilled score) of the pairs whose local confidence reaches `threshold`."""
    return [
        (local.score, distilled.score) for local, distilled in pairs if (local.confidence or 0.0) >= threshold
    ]


def _figures(pairs: Sequence[tuple[AnswerRecord, AnswerRecord]], threshold: float) -> dict[str, Any]:
    chosen = _confident(pairs, threshold)
    return {
        "threshold": threshold,
        "confident_share": round(len(chosen) / len(pairs), 4) if pairs else None,
        "confident_answers": len(chosen),
        "local_mean_score": _mean([local for local, _ in chosen]),
        "distilled_mean_score": _mean([distilled for _, distilled in chosen]),
    }


def calibrate(
    local: Sequence[AnswerRecord],
    distilled: Sequence[AnswerRecord],
    *,
    grid: Sequence[float] = GRID,
    min_confident: int = MIN_CONFIDENT,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """The threshold and its figures from the two candidates' held-out records (paired by query index);
    `tolerance`: how far below the distilled model's mean the confident answers' mean may be."""
    by_index = {record.index: record for record in distilled}
    pairs = [(record, by_index[record.index]) for record in local if record.index in by_index]
    halves: dict[str, list[tuple[AnswerRecord, AnswerRecord]]] = {"calibration": [], "report": []}
    for pair in pairs:
        halves[half_of(pair[0].query)].append(pair)
    # From the highest level down: the threshold is the lowest level at which the confident answers pass
    # and so do they at every higher level (that has enough of them). The first failing level ends the
    # search, so a lucky low level under a failing one is never chosen.
    threshold = None
    for level in sorted(grid, reverse=True):
        chosen = _confident(halves["calibration"], level)
        if len(chosen) < min_confident:
            continue
        if math.fsum(a for a, _ in chosen) < math.fsum(b for _, b in chosen) - tolerance * len(chosen):
            break
        threshold = level
    shown = _figures(halves["report"], threshold) if threshold is not None else {}
    return {
        "threshold": threshold,
        "confident_share": shown.get("confident_share"),
        "confident_answers": shown.get("confident_answers"),
        "confident_mean_score": shown.get("local_mean_score"),
        "distilled_mean_score": shown.get("distilled_mean_score"),
        "calibration": {
            "method": METHOD,
            "calibration_queries": len(halves["calibration"]),
            "report_queries": len(halves["report"]),
            "min_confident": min_confident,
            "tolerance": tolerance,
            "curve": [_figures(halves["calibration"], level) for level in CURVE],
        },
    }


def local_model_section(
    state: Mapping[str, Any] | None,
    evaluated: Mapping[str, Any] | None,
    held_out: Mapping[str, Sequence[AnswerRecord]],
    *,
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """report.json `local_model`: the run's tier-0 model, how it was trained, and its calibration.

    `state` is `$.local_model` (TrainLocalModel), `evaluated` the evaluation manifest's `local_model`.
    """
    state = state or {}
    evaluated = evaluated or {}
    section: dict[str, Any] = {
        "trained": bool(state.get("trained")),
        "evaluated": bool(evaluated.get("evaluated")),
        "error": evaluated.get("error") or state.get("error"),
        "s3_uri": state.get("s3_uri"),
        "sha256": state.get("sha256"),
        "training": {key: state.get(key) for key in ("examples", "features", "seconds", "train_loss")},
        "threshold": None,
        "confident_share": None,
        "confident_answers": None,
        "confident_mean_score": None,
        "distilled_mean_score": None,
        "calibration": None,
    }
    if not section["evaluated"] or not held_out.get(LOCAL):
        if not section["error"]:
            section["error"] = "the run has no tier-0 model"
        return section
    if not held_out.get("distilled"):
        section["error"] = "the distilled model was not evaluated: no threshold can be calibrated against it"
        return section
    section.update(calibrate(held_out[LOCAL], held_out["distilled"], tolerance=tolerance))
    if section["threshold"] is None:
        section["error"] = (
            "no threshold on the grid lets the local model's confident answers score like the distilled "
            "model's: tier-0 does not answer queries itself"
        )
    return section


def local_model_ref(section: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`$.report.local_model`: what Promote needs (the artifact and its threshold), or None without a threshold."""
    if not section or section.get("threshold") is None or not section.get("s3_uri"):
        return None
    return {"s3_uri": section["s3_uri"], "sha256": section.get("sha256"), "threshold": section["threshold"]}
