"""The Report step: aggregate the answers and the judge's scores, decide the gate, write the report.

Reads results.jsonl and the evaluation manifest (written by Evaluate) and, when the judge
completed, its output; calibrates the tier-0 model's confidence threshold (`calibration`, report.json
`local_model`); summarises each candidate (`metrics`, `pricing`) on the held-out set
and, with a gold set, every answerer on the gold set; weighs the evidence of each set
(`evidence`: intervals, paired comparisons, resolution, breakdown, seeded by the run id),
evaluates the quality gate on the set `gate_reference` names (`gate`), and writes report.json
(built by `report`, its gold section by `gold_report`), report.md (`markdown`) and report.html
(`html`). Returns `$.report`: the keys, the links, the gate and the
notification's subject and message. The Report handler logs the gate and emits its metric.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import ResultsMissing
from ..layout import console_url, s3_uri
from ..settings import MAX_HOLDOUT, GateReference, GateThresholds, ReferenceSet, ReportEnv, tightest_gate
from ..state import CandidateRef, DatasetState, ReportEvent
from ..storage import get_text, iter_jsonl, list_keys, put, put_json
from .calibration import local_model_ref, local_model_section
from .evidence import GATE_COMPARISON, Evidence, gather
from .gate import GateDecision, evaluate_gate
from .gold_report import gold_reasons, gold_section, with_gold
from .html import render_html
from .judge import METRIC_NAME, judge_scores
from .markdown import render_markdown
from .metrics import ModelSummary, summarise
from .pricing import price_for
from .records import AnswerRecord
from .report import build_report, notification, summary_line


def load_records(s3: Any, bucket: str, key: str) -> list[AnswerRecord]:
    text = get_text(s3, bucket, key)
    if text is None:
        raise ResultsMissing(f"no evaluation results at s3://{bucket}/{key}")
    return [AnswerRecord.model_validate(value) for _, value in iter_jsonl(text)]


def load_judge_output(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for key in list_keys(s3, bucket, prefix):
        if key.endswith(".jsonl"):
            lines.extend(
                value for _, value in iter_jsonl(get_text(s3, bucket, key) or "") if isinstance(value, dict)
            )
    return lines


def _dataset_warnings(dataset: DatasetState) -> list[str]:
    if not dataset.failed_batches:
        return []
    return [
        f"{dataset.failed_batches} teacher batches failed after their retries and were left out of the "
        "dataset (generation_checks.max_failed_batch_share); dataset/stats.json lists them"
    ]


def records_by_answerer(
    answerers: Sequence[CandidateRef], records: Sequence[AnswerRecord], reference_set: ReferenceSet
) -> dict[str, list[AnswerRecord]]:
    """Each answerer's records of one query set ("holdout" or "gold"), in the answerers' order."""
    return {
        answerer.candidate: [
            record
            for record in records
            if record.candidate == answerer.candidate and record.reference_set == reference_set
        ]
        for answerer in answerers
    }


def summarise_set(
    answerers: Sequence[CandidateRef],
    by_candidate: Mapping[str, Sequence[AnswerRecord]],
    *,
    settings: ReportEnv,
    student_model_id: str,
    modalities: Sequence[str],
    scores: Mapping[str, Sequence[float]],
) -> list[ModelSummary]:
    """One summary per answerer of one query set, in the answerers' order."""
    summaries = []
    for answerer in answerers:
        price = price_for(settings.prices, answerer.model_id, custom_model_base=student_model_id)
        summaries.append(summarise(answerer.candidate, answerer.model_id, by_candidate[answerer.candidate],
                                   modalities, price, scores.get(answerer.candidate, ())))  # fmt: skip
    return summaries


def weigh(
    by_candidate: Mapping[str, Sequence[AnswerRecord]],
    *,
    modalities: Sequence[str],
    thresholds: GateThresholds,
    seed: str,
) -> Evidence:
    """The evidence of one query set (intervals, comparisons, resolution, breakdown), seeded by `seed`."""
    return gather(
        dict(by_candidate),
        modalities=modalities,
        tolerances={"mean_score": thresholds.max_score_drop},
        seed=seed,
        holdout_limit=MAX_HOLDOUT,
    )


def decide_gate(
    summaries: Sequence[ModelSummary],
    found: Evidence | None,
    thresholds: GateThresholds,
    reference: GateReference,
) -> GateDecision:
    """The gate on one query set's summaries and evidence; decided on the gold set, each reason says so
    (no gold answers: the distilled model was not evaluated there, and the gate fails)."""
    by_name = {summary.candidate: summary for summary in summaries}
    gate = evaluate_gate(
        by_name.get("distilled"),
        by_name.get("baseline"),
        thresholds,
        score_difference=found.comparison(GATE_COMPARISON, "mean_score") if found else None,
        intervals=found.candidates.get("distilled") if found else None,
    )
    return replace(gate, reasons=gold_reasons(gate.reasons, reference))


def report_step(event: ReportEvent, *, settings: ReportEnv, s3: Any, region: str) -> dict[str, Any]:
    """Aggregate, judge scores, gate; write report.json / .md / .html; return the gate and the links."""
    run = event.run
    layout = run.layout
    records = load_records(s3, run.bucket, event.evaluation.results_key)
    manifest_text = get_text(s3, run.bucket, layout.evaluation_manifest_key)
    if manifest_text is None:
        raise ResultsMissing(
            f"no evaluation manifest at s3://{run.bucket}/{layout.evaluation_manifest_key}: Evaluate did not complete"
        )
    manifest = json.loads(manifest_text)
    modalities = manifest.get("modalities") or run.settings.modalities

    judge = event.judge
    judge_info: dict[str, Any] = {
        "status": judge.status if judge else "Skipped",
        "job_arn": judge.job_arn if judge else None,
        "job_name": judge.job_name if judge else None,
        "failure": (judge.failure or judge.cause) if judge else None,
        "prompts_per_candidate": manifest.get("judge_prompts_per_candidate"),
        "metric": METRIC_NAME,
    }
    scores: dict[str, list[float]] = {}
    if judge and judge.status == "Completed" and judge.job_name:
        inputs_text = get_text(s3, run.bucket, event.evaluation.judge_input_key) or ""
        inputs = [value for _, value in iter_jsonl(inputs_text)]
        scores = judge_scores(
            load_judge_output(s3, run.bucket, f"{layout.judge_output_prefix}{judge.job_name}/"), inputs
        )
        if not scores:
            judge_info["failure"] = (
                "the judge job completed but no OverallQuality score was found in its output"
            )

    student = run.settings.student_model_id
    held_out = records_by_answerer(event.evaluation.candidates, records, "holdout")
    summaries = summarise_set(event.evaluation.candidates, held_out, settings=settings, student_model_id=student,
                              modalities=modalities, scores=scores)  # fmt: skip
    # The judge's references are the teacher's: gold answers carry no judge score.
    gold_records = records_by_answerer(event.evaluation.gold_candidates, records, "gold")
    gold = summarise_set(event.evaluation.gold_candidates, gold_records, settings=settings,
                         student_model_id=student, modalities=modalities, scores={})  # fmt: skip
    by_name = {summary.candidate: summary for summary in summaries}
    thresholds = tightest_gate(settings.gate, run.settings.gate)
    found = weigh(held_out, modalities=modalities, thresholds=thresholds, seed=run.run_id)
    found_gold = (
        weigh(gold_records, modalities=modalities, thresholds=thresholds, seed=f"{run.run_id}/gold")
        if gold
        else None
    )
    reference = run.settings.gate_reference
    if reference == "gold":
        gate = decide_gate(gold, found_gold, thresholds, reference)
    else:
        gate = decide_gate(summaries, found, thresholds, reference)
    offline = event.evaluation.offline_stand_in or any(record.offline_stand_in for record in records)
    report = build_report(
        run_id=run.run_id,
        dataset={
            "train_count": event.dataset.train_count,
            "holdout_count": event.dataset.holdout_count or int(manifest.get("holdout", 0)),
            "failed_batches": event.dataset.failed_batches,
        },
        models=summaries,
        judge=judge_info,
        gate=gate,
        evidence=found.to_dict(),
        warnings=[*run.warnings, *_dataset_warnings(event.dataset)],
        offline_stand_in=offline,
        modalities=modalities,
        inference=manifest["inference"],
        artifacts={
            "results": layout.results_key,
            "judge_input": layout.judge_input_key,
            "report_json": layout.report_json_key,
            "report_markdown": layout.report_md_key,
            "report_html": layout.report_html_key,
        },
    )
    report = with_gold(
        report,
        gold_section(summaries, gold, found.to_dict(), found_gold.to_dict(), s3_uri=run.settings.gold_s3_uri,
                     count=event.dataset.gold_count, gate_reference=reference) if found_gold else None,
        gold_count=event.dataset.gold_count,
        leaks=event.dataset.leaks.model_dump(),
        gate_reference=reference,
    )  # fmt: skip
    # The tier-0 model: its training, and the threshold calibrated on the held-out answers (calibration).
    report["local_model"] = local_model_section(
        event.local_model.model_dump() if event.local_model else None,
        manifest.get("local_model"),
        held_out,
        tolerance=thresholds.max_score_drop,
    )
    put_json(s3, run.bucket, layout.report_json_key, report)
    put(
        s3,
        run.bucket,
        layout.report_md_key,
        render_markdown(report, html_link="report.html"),
        "text/markdown; charset=utf-8",
    )
    latencies = {summary.candidate: summary.latencies_ms for summary in summaries}
    put(s3, run.bucket, layout.report_html_key, render_html(report, latencies), "text/html; charset=utf-8")

    link = console_url(run.bucket, layout.report_html_key, region)
    distilled = by_name.get("distilled")
    subject, message = notification(
        report, link=link, model_id=distilled.model_id if distilled else None, on_pass=settings.promotion
    )
    return {
        "report_key": layout.report_json_key,
        "markdown_key": layout.report_md_key,
        "html_key": layout.report_html_key,
        "html_uri": s3_uri(run.bucket, layout.report_html_key),
        "console_url": link,
        "gate": {"passed": gate.passed, "reasons": gate.reasons},
        "summary": summary_line(report),
        "subject": subject,
        "message": message,
        # What Promote puts into the active-model value (None: no tier-0 threshold).
        "local_model": local_model_ref(report["local_model"]),
    }
