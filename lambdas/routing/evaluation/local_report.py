"""The report's tier-0 section in Markdown and HTML, from report.json `local_model` (routing.evaluation.calibration)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def local_model_sentences(report: Mapping[str, Any]) -> list[str]:
    """What the tier-0 model is, how it was trained and calibrated, as plain sentences (both renderings)."""
    section = report.get("local_model")
    if not section:
        return []
    if not section["evaluated"]:
        return [
            f"No tier-0 local model: {section['error'] or 'not trained'}. Nothing else in this report depends on it."
        ]
    training = section["training"]
    sentences = [
        f"The tier-0 model `{section['s3_uri']}` (sha256 {str(section['sha256'])[:12]}...) was trained on "
        f"{training['examples']} examples ({training['features']} hashed n-gram features, "
        f"{training['seconds']} s, train loss {training['train_loss']}); it answered every held-out query in "
        "process as the candidate 'Tier-0 local model' above."
    ]
    calibration = section.get("calibration") or {}
    if section["threshold"] is None:
        sentences.append(f"No confidence threshold: {section['error']}.")
    else:
        sentences.append(
            f"Confidence threshold {section['threshold']:.2f}, calibrated on {calibration.get('calibration_queries')} "
            f"held-out queries; on the other {calibration.get('report_queries')} (not used to calibrate) it is "
            f"confident on {section['confident_share']:.0%} ({section['confident_answers']} queries) with mean "
            f"rubric score {_score(section['confident_mean_score'])} (the distilled model on the same queries: "
            f"{_score(section['distilled_mean_score'])}). The router answers those queries itself."
        )
    if calibration.get("method"):
        sentences.append(f"Method: {calibration['method']}.")
    return sentences


def _curve_rows(section: Mapping[str, Any]) -> list[tuple[str, ...]]:
    return [
        (f"{point['threshold']:.2f}", "n/a" if point["confident_share"] is None else f"{point['confident_share']:.0%}",
         _score(point["local_mean_score"]), _score(point["distilled_mean_score"]))
        for point in (section.get("calibration") or {}).get("curve", [])
    ]  # fmt: skip


CURVE_HEADER = ("Confidence >=", "Confident share", "Tier-0 mean score", "Distilled mean score")


def local_model_lines(report: Mapping[str, Any]) -> list[str]:
    """The Markdown section (empty for a report written before tier-0)."""
    sentences = local_model_sentences(report)
    if not sentences:
        return []
    lines = ["", "## Tier-0 local model", "", *sentences]
    rows = _curve_rows(report["local_model"])
    if rows:
        lines += [
            "",
            "Calibration half:",
            "",
            "| " + " | ".join(CURVE_HEADER) + " |",
            "|---:|---:|---:|---:|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def local_model_html(report: Mapping[str, Any]) -> str:
    """The HTML section (empty for a report written before tier-0)."""
    sentences = local_model_sentences(report)
    if not sentences:
        return ""
    parts = ["<h2>Tier-0 local model</h2>", *(f"<p>{escape(sentence)}</p>" for sentence in sentences)]
    rows = _curve_rows(report["local_model"])
    if rows:
        head = "".join(f"<th>{escape(title)}</th>" for title in CURVE_HEADER)
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        parts.append(f"<table><caption>Calibration half</caption><tr>{head}</tr>{body}</table>")
    return "".join(parts)
