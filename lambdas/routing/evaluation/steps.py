"""The five evaluation steps of the pipeline, as plain functions taking their clients.

Each Lambda handler parses its event and environment, calls one of these, and returns the
dict this function returns (it becomes `$.evaluation`, `$.judge`, `$.report` or
`$.promotion` of the execution state).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from routing.pipeline.settings import tightest_gate

from ..contract import LabelledExample, example_from_dict, system_prompt
from ..errors import BedrockThrottled, EvaluationStalled, GateNotPassed, HoldoutInvalid, ResultsMissing
from ..layout import RunLayout, console_url, s3_uri
from ..observability import logger, metrics
from ..pipeline.planning import POLL_BUDGETS
from ..state import (
    CANDIDATE_ORDER,
    CheckJudgeEvent,
    DatasetState,
    EvaluateEvent,
    PromoteEvent,
    ReportEvent,
    RunState,
    StartJudgeEvent,
)
from ..storage import get_text, iter_jsonl, list_keys, put, put_json, put_jsonl
from .answering import Candidate, InferenceSettings, answer_all, on_demand_model_id, pending_work
from .events import CheckJudgeEnv, EvaluateEnv, PromoteEnv, ReportEnv, StartJudgeEnv
from .gate import evaluate_gate
from .html import render_html
from .judge import (
    METRIC_NAME,
    create_job_request,
    judge_job_name,
    judge_lines,
    judge_prompt_limit,
    judge_scores,
)
from .markdown import render_markdown
from .metrics import summarise
from .pricing import price_for
from .promotion import promote_run
from .records import AnswerRecord, make_record
from .report import build_report, notification, summary_line

_METADATA_VALUE = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.-]")

# ------------------------------------------------------------------------------------ Evaluate


def candidates_of(run: RunState, deployment_arn: str) -> list[Candidate]:
    """The candidates of the run, always in the order distilled, student, baseline."""
    model_ids = {
        "distilled": deployment_arn,
        "student": on_demand_model_id(run.settings.student_model_id),
        "baseline": run.settings.baseline_model_id,
    }
    chosen = set(run.settings.evaluation_candidates)
    return [Candidate(name, model_ids[name]) for name in CANDIDATE_ORDER if name in chosen]


def load_holdout(s3: Any, bucket: str, key: str, modalities: Sequence[str]) -> list[LabelledExample]:
    text = get_text(s3, bucket, key)
    if text is None:
        raise HoldoutInvalid(f"held-out dataset s3://{bucket}/{key} does not exist")
    examples = []
    try:
        for number, value in iter_jsonl(text):
            try:
                examples.append(example_from_dict(value, modalities))
            except ValueError as exc:
                raise HoldoutInvalid(f"s3://{bucket}/{key} line {number}: {exc}") from None
    except ValueError as exc:
        raise HoldoutInvalid(f"s3://{bucket}/{key}: {exc}") from None
    if not examples:
        raise HoldoutInvalid(f"held-out dataset s3://{bucket}/{key} is empty")
    return examples


def load_parts(s3: Any, bucket: str, layout: RunLayout) -> dict[tuple[str, int], AnswerRecord]:
    """Answers finished by earlier invocations (a repeated answer keeps the latest part's)."""
    records: dict[tuple[str, int], AnswerRecord] = {}
    for key in list_keys(s3, bucket, layout.evaluation_parts_prefix):
        for _, value in iter_jsonl(get_text(s3, bucket, key) or ""):
            record = AnswerRecord.model_validate(value)
            records[record.key] = record
    return records


def evaluate_step(
    event: EvaluateEvent,
    env: EvaluateEnv,
    *,
    s3: Any,
    runtime: Any,
    should_stop: Callable[[], bool],
    must_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """Answer what is still unanswered until the time budget ends; merge everything once complete.

    Every invocation makes progress or says why: `should_stop` (the soft budget) only stops the
    start of new calls once one call of this invocation has finished; until then calls go on
    until `must_stop` (the hard limit, which leaves time to save what finished). An invocation
    that still finishes nothing raises `EvaluationStalled` with the error the calls were retrying.

    `clock` times the model calls (the handler passes `routing.clients.timer`).
    """
    run = event.run
    layout = run.layout
    modalities = run.settings.modalities
    settings = InferenceSettings(system_prompt=system_prompt(modalities), max_tokens=env.max_tokens)
    candidates = candidates_of(run, event.deployment.deployment_arn)
    examples = load_holdout(s3, run.bucket, event.dataset.holdout_key, modalities)
    records = load_parts(s3, run.bucket, layout)
    pending = pending_work(candidates, examples, set(records))
    logger.info(
        "evaluating", extra={"pending": len(pending), "done": len(records), "candidates": len(candidates)}
    )

    new: list[AnswerRecord] = []
    cut_short: list[str | None] = []

    def stop_starting() -> bool:
        return must_stop() or (bool(new) and should_stop())

    def finished(candidate: Candidate, index: int, example: LabelledExample, outcome: Any) -> None:
        new.append(
            make_record(candidate, index, example, outcome, modalities, offline_stand_in=env.offline_stand_in)
        )

    metadata = {"run_id": _METADATA_VALUE.sub("-", run.run_id)[:256], "purpose": "evaluation"}
    try:
        if pending:
            answer_all(runtime, pending, settings, concurrency=env.concurrency, should_stop=stop_starting,
                       on_finished=finished, on_cut_short=cut_short.append, metadata=metadata, clock=clock)  # fmt: skip
    finally:
        # Whatever finished is kept, even when a bug stops the invocation: the next one resumes.
        if new:
            name = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}"
            put_jsonl(
                s3,
                run.bucket,
                layout.evaluation_part_key(name),
                (record.model_dump() for record in new),
                scratch=True,
            )
    metrics.add_metric(name="EvaluationAnswers", unit="Count", value=len(new))
    if pending and not new:
        errors = [error for error in cut_short if error]
        why = f"the calls were retrying {errors[-1]}" if errors else "no call finished before the time limit"
        raise EvaluationStalled(
            f"no answer finished in this invocation ({len(pending)} still pending, {len(cut_short)} calls "
            f"cut short by the time limit): {why}"
        )
    for record in new:
        records[record.key] = record

    total = len(candidates) * len(examples)
    complete = not pending_work(candidates, examples, set(records))
    per_candidate = judge_prompt_limit(len(candidates), len(examples), env.judge_max_prompts)
    if complete:
        ordered = [
            records[(candidate.name, index)] for index in range(len(examples)) for candidate in candidates
        ]
        put_jsonl(s3, run.bucket, layout.results_key, (record.model_dump() for record in ordered))
        lines = judge_lines(ordered, settings.system_prompt, [c.name for c in candidates], per_candidate)
        put_jsonl(s3, run.bucket, layout.judge_input_key, (line.line for line in lines))
        put_json(s3, run.bucket, layout.evaluation_manifest_key, {
            "candidates": [{"candidate": c.name, "model_id": c.model_id} for c in candidates],
            "inference": settings.to_dict(),
            "modalities": list(modalities),
            "holdout": len(examples),
            "answers": total,
            "judge_prompts_per_candidate": per_candidate,
            "offline_stand_in": env.offline_stand_in,
            "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })  # fmt: skip
    return {
        "results_key": layout.results_key,
        "judge_input_key": layout.judge_input_key,
        "candidates": [{"candidate": c.name, "model_id": c.model_id} for c in candidates],
        "answers": total,
        "done": len(records),
        "complete": complete,
        "judge_prompts": per_candidate * len(candidates) if complete else 0,
        "offline_stand_in": env.offline_stand_in,
    }


# ---------------------------------------------------------------------------------- LLM judge


def _skipped(reason: str) -> dict[str, Any]:
    metrics.add_metric(name="JudgeSkipped", unit="Count", value=1)
    return {"job_arn": None, "job_name": None, "status": "Skipped", "failure": reason, "polls": 0}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def find_job_arn(bedrock: Any, job_name: str) -> str | None:
    """The ARN of this account's evaluation job named exactly `job_name`, if any."""
    for page in bedrock.get_paginator("list_evaluation_jobs").paginate(nameContains=job_name):
        for job in page.get("jobSummaries", []):
            if job.get("jobName") == job_name:
                return str(job["jobArn"])
    return None


def start_judge_step(event: StartJudgeEvent, env: StartJudgeEnv, *, bedrock: Any) -> dict[str, Any]:
    """Start the judge job (or find the one this run already started); Skipped when off."""
    run = event.run
    if not run.settings.judge:
        return _skipped("turned off for this run")
    if not event.evaluation.judge_prompts:
        return _skipped("no answers to judge")
    layout = run.layout
    job_name = judge_job_name(env.job_name_prefix, run.run_id)
    request = create_job_request(
        job_name=job_name,
        role_arn=env.evaluation_role_arn,
        judge_model_id=run.settings.judge_model_id,
        input_uri=s3_uri(run.bucket, event.evaluation.judge_input_key),
        output_uri=s3_uri(run.bucket, layout.judge_output_prefix),
        run_id=run.run_id,
    )
    try:
        job_arn = bedrock.create_evaluation_job(**request)["jobArn"]
    except ClientError as exc:
        if _code(exc) == "ThrottlingException":
            raise BedrockThrottled(str(exc)) from None
        if _code(exc) != "ConflictException":
            raise
        job_arn = find_job_arn(bedrock, job_name)
        if job_arn is None:
            raise
        logger.info("judge job already exists", extra={"job_name": job_name})
    metrics.add_metric(name="JudgeJobsStarted", unit="Count", value=1)
    return {"job_arn": job_arn, "job_name": job_name, "status": "InProgress", "failure": None, "polls": 0}


def check_judge_step(
    event: CheckJudgeEvent, env: CheckJudgeEnv, *, bedrock: Any, now: datetime | None = None
) -> dict[str, Any]:
    """The judge job's status; a job past the evaluation deadline or the poll budget is stopped, TimedOut."""
    judge = event.judge
    metrics.add_metric(name="JudgePolls", unit="Count", value=1)
    if judge.status == "Skipped" or not judge.job_arn:
        return judge.model_dump(exclude={"cause"})
    try:
        job = bedrock.get_evaluation_job(jobIdentifier=judge.job_arn)
    except ClientError as exc:
        if _code(exc) == "ThrottlingException":
            raise BedrockThrottled(str(exc)) from None
        raise
    status = str(job.get("status"))
    failure = "; ".join(job.get("failureMessages") or []) or None
    created = job.get("creationTime")
    now = now or datetime.now(UTC)
    polls = judge.polls + 1
    overdue = isinstance(created, datetime) and now - created > timedelta(hours=env.deadline_hours)
    # The poll budget bounds the loop whatever the Wait lasts (Step Functions' 25,000 history events).
    over_budget = polls >= POLL_BUDGETS["evaluation"]
    if status == "InProgress" and (overdue or over_budget):
        try:
            bedrock.stop_evaluation_job(jobIdentifier=judge.job_arn)
        except ClientError as exc:
            if _code(exc) != "ConflictException":  # already stopping or finished
                raise
        status = "TimedOut"
        failure = (
            f"the judge job did not finish within {env.deadline_hours} hours"
            if overdue
            else f"the judge job was still running after {polls} polls (raise wait_seconds.evaluation)"
        )
    return {
        "job_arn": judge.job_arn,
        "job_name": judge.job_name,
        "status": status,
        "failure": failure,
        "polls": polls,
    }


# ------------------------------------------------------------------------------------- Report


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


def report_step(event: ReportEvent, env: ReportEnv, *, s3: Any, region: str) -> dict[str, Any]:
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

    summaries = []
    for candidate in event.evaluation.candidates:
        own = [record for record in records if record.candidate == candidate.candidate]
        price = price_for(env.prices, candidate.model_id, custom_model_base=run.settings.student_model_id)
        summaries.append(summarise(candidate.candidate, candidate.model_id, own, modalities, price,
                                   scores.get(candidate.candidate, ())))  # fmt: skip
    by_name = {summary.candidate: summary for summary in summaries}
    gate = evaluate_gate(
        by_name.get("distilled"), by_name.get("baseline"), tightest_gate(env.gate, run.settings.gate)
    )
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
    subject, message = notification(report, link=link, model_id=distilled.model_id if distilled else None)
    metrics.add_metric(name="GatePassed", unit="Count", value=1 if gate.passed else 0)
    logger.info("report written", extra={"gate_passed": gate.passed, "report_key": layout.report_json_key})
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
    }


# ------------------------------------------------------------------------------------ Promote


def promote_step(event: PromoteEvent, env: PromoteEnv, *, ssm: Any) -> dict[str, Any]:
    """Write the deployment ARN to the active-model parameter, only for a run that passed the gate."""
    if not event.report.gate.passed:
        raise GateNotPassed(f"run {event.run.run_id} did not pass the quality gate: not promoting")
    result = promote_run(ssm, env.parameter_name, event.deployment.deployment_arn, event.run.run_id)
    metrics.add_metric(name="ModelsPromoted", unit="Count", value=1 if result.changed else 0)
    logger.info("promoted", extra=result.to_dict())
    return result.to_dict()
