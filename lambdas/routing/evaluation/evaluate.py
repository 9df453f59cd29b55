"""The Evaluate step: the candidates answer the held-out queries, resumably, within one invocation's budget.

With a gold set (`$.dataset.gold_key`) every candidate answers its queries too, and so does the
teacher unless `gold_teacher` is off; the held-out queries come first, then the gold ones, and
every record says which set it belongs to (`reference_set`). Each invocation answers what
earlier ones left unanswered (their answers are parts under `evaluation/parts/`), keeps
whatever finished even when it stops early, and once every answerer has answered every query
merges the parts into results.jsonl (held-out records, then gold records), writes the judge's
input lines (held-out answers only: the judge's references are the teacher's) and the
evaluation manifest. The run's tier-0 model (`$.local_model`), when it has one, is the fourth
candidate "local": it answers in process (`local_candidate`), is not judged, and its records carry
its confidence. The Evaluate handler logs the outcome and emits the
metrics from the `EvaluateResult` returned here; `summary()` is `$.evaluation`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..contract import LabelledExample, example_from_dict, system_prompt
from ..errors import EvaluationStalled, HoldoutInvalid
from ..layout import RunLayout
from ..settings import CANDIDATE_ORDER, LOCAL, TEACHER, EvaluateEnv, ReferenceSet
from ..state import EvaluateEvent, RunState
from ..storage import get_text, iter_jsonl, list_keys, put_json, put_jsonl
from .answering import Candidate, InferenceSettings, answer_all, on_demand_model_id, pending_work
from .judge import judge_lines, judge_prompt_limit
from .local_candidate import answer_locally, load_run_local_model
from .records import AnswerRecord, make_record

_METADATA_VALUE = re.compile(r"[^a-zA-Z0-9\s:_@$#=/+,.-]")


@dataclass(frozen=True)
class EvaluateResult:
    """What one Evaluate invocation did; `summary()` is `$.evaluation` (the state machine loops while incomplete)."""

    results_key: str
    judge_input_key: str
    candidates: list[Candidate]
    answers: int  # candidates x held-out queries + gold answerers x gold queries
    done: int  # answers finished so far, by every invocation
    complete: bool
    judge_prompts: int
    offline_stand_in: bool
    pending: int  # answers still to do when this invocation started
    answered: int  # answers this invocation finished
    gold_candidates: list[Candidate] = field(default_factory=list)
    gold_answers: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "results_key": self.results_key,
            "judge_input_key": self.judge_input_key,
            "candidates": [{"candidate": c.name, "model_id": c.model_id} for c in self.candidates],
            "answers": self.answers,
            "done": self.done,
            "complete": self.complete,
            "judge_prompts": self.judge_prompts,
            "offline_stand_in": self.offline_stand_in,
            "gold_candidates": [{"candidate": c.name, "model_id": c.model_id} for c in self.gold_candidates],
            "gold_answers": self.gold_answers,
        }


def candidates_of(run: RunState, deployment_arn: str) -> list[Candidate]:
    """The candidates of the run, always in the order distilled, student, baseline."""
    model_ids = {
        "distilled": deployment_arn,
        "student": on_demand_model_id(run.settings.student_model_id),
        "baseline": run.settings.baseline_model_id,
    }
    chosen = set(run.settings.evaluation_candidates)
    return [Candidate(name, model_ids[name]) for name in CANDIDATE_ORDER if name in chosen]


def gold_candidates_of(run: RunState, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Who answers the gold set: every candidate, then the teacher (unless `gold_teacher` is off)."""
    gold = [replace(candidate, reference_set="gold") for candidate in candidates]
    if run.settings.gold_teacher:
        gold.append(Candidate(TEACHER, run.settings.teacher_model_id, "gold"))
    return gold


def load_holdout(
    s3: Any, bucket: str, key: str, modalities: Sequence[str], *, what: str = "held-out dataset"
) -> list[LabelledExample]:
    """The labelled examples of the run's held-out (or, `what`, gold) file; HoldoutInvalid naming a bad line."""
    text = get_text(s3, bucket, key)
    if text is None:
        raise HoldoutInvalid(f"{what} s3://{bucket}/{key} does not exist")
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
        raise HoldoutInvalid(f"{what} s3://{bucket}/{key} is empty")
    return examples


def load_parts(s3: Any, bucket: str, layout: RunLayout) -> dict[tuple[str, str, int], AnswerRecord]:
    """Answers finished by earlier invocations (a repeated answer keeps the latest part's)."""
    records: dict[tuple[str, str, int], AnswerRecord] = {}
    for key in list_keys(s3, bucket, layout.evaluation_parts_prefix):
        for _, value in iter_jsonl(get_text(s3, bucket, key) or ""):
            record = AnswerRecord.model_validate(value)
            records[record.key] = record
    return records


def evaluate_step(
    event: EvaluateEvent,
    *,
    settings: EvaluateEnv,
    s3: Any,
    runtime: Any,
    should_stop: Callable[[], bool],
    must_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> EvaluateResult:
    """Answer what is still unanswered until the time budget ends; merge everything once complete.

    Every invocation makes progress or says why: `should_stop` (the soft budget) only stops the
    start of new calls once one call of this invocation has finished; until then calls go on
    until `must_stop` (the hard limit, which leaves time to save what finished). An invocation
    that still finishes nothing raises `EvaluationStalled` with the error the calls were retrying.

    `clock` times the model calls and the local answers (the handler passes `routing.clients.timer`).
    """
    run = event.run
    layout = run.layout
    modalities = run.settings.modalities
    inference = InferenceSettings(system_prompt=system_prompt(modalities), max_tokens=settings.max_tokens)
    candidates = candidates_of(run, event.deployment.deployment_arn)
    # The Bedrock candidates are judged; the local candidate (the run's tier-0 model) answers in process.
    judged = [candidate.name for candidate in candidates]
    local = load_run_local_model(s3, event.local_model)
    if local.candidate is not None:
        candidates = [*candidates, local.candidate]
    examples = load_holdout(s3, run.bucket, event.dataset.holdout_key, modalities)
    gold_key = event.dataset.gold_key
    gold = load_holdout(s3, run.bucket, gold_key, modalities, what="gold set") if gold_key else []
    gold_candidates = gold_candidates_of(run, candidates) if gold else []
    records = load_parts(s3, run.bucket, layout)

    def still_pending() -> list[Any]:
        return [
            *pending_work(candidates, examples, _done(records, "holdout")),
            *pending_work(gold_candidates, gold, _done(records, "gold")),
        ]

    pending = still_pending()

    new: list[AnswerRecord] = []
    cut_short: list[str | None] = []

    def stop_starting() -> bool:
        return must_stop() or (bool(new) and should_stop())

    def finished(
        candidate: Candidate,
        index: int,
        example: LabelledExample,
        outcome: Any,
        confidence: float | None = None,
    ) -> None:
        new.append(make_record(candidate, index, example, outcome, modalities,
                               offline_stand_in=settings.offline_stand_in, confidence=confidence))  # fmt: skip

    metadata = {"run_id": _METADATA_VALUE.sub("-", run.run_id)[:256], "purpose": "evaluation"}
    remote = [item for item in pending if item[0].name != LOCAL]
    try:
        if local.model is not None:
            local_work = (item for item in pending if item[0].name == LOCAL)
            answer_locally(local.model, local_work, finished, clock=clock)
        if remote:
            answer_all(runtime, remote, inference, concurrency=settings.concurrency, should_stop=stop_starting,
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
    if pending and not new:
        errors = [error for error in cut_short if error]
        why = f"the calls were retrying {errors[-1]}" if errors else "no call finished before the time limit"
        raise EvaluationStalled(
            f"no answer finished in this invocation ({len(pending)} still pending, {len(cut_short)} calls "
            f"cut short by the time limit): {why}"
        )
    for record in new:
        records[record.key] = record

    gold_answers = len(gold_candidates) * len(gold)
    total = len(candidates) * len(examples) + gold_answers
    complete = not still_pending()
    per_candidate = judge_prompt_limit(len(judged), len(examples), settings.judge_max_prompts)
    if complete:
        ordered = _query_major(records, "holdout", candidates, len(examples))
        gold_ordered = _query_major(records, "gold", gold_candidates, len(gold))
        put_jsonl(
            s3, run.bucket, layout.results_key, (record.model_dump() for record in [*ordered, *gold_ordered])
        )
        lines = judge_lines(ordered, inference.system_prompt, judged, per_candidate)
        put_jsonl(s3, run.bucket, layout.judge_input_key, (line.line for line in lines))
        put_json(s3, run.bucket, layout.evaluation_manifest_key, {
            "candidates": [{"candidate": c.name, "model_id": c.model_id} for c in candidates],
            "inference": inference.to_dict(),
            "modalities": list(modalities),
            "holdout": len(examples),
            "answers": total,
            "judge_prompts_per_candidate": per_candidate,
            "gold": {
                "key": gold_key,
                "examples": len(gold),
                "candidates": [{"candidate": c.name, "model_id": c.model_id} for c in gold_candidates],
                "answers": gold_answers,
            } if gold else None,
            "offline_stand_in": settings.offline_stand_in,
            "local_model": local.to_dict(),
            "completed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        })  # fmt: skip
    return EvaluateResult(
        results_key=layout.results_key,
        judge_input_key=layout.judge_input_key,
        candidates=candidates,
        answers=total,
        done=len(records),
        complete=complete,
        judge_prompts=per_candidate * len(judged) if complete else 0,
        offline_stand_in=settings.offline_stand_in,
        pending=len(pending),
        answered=len(new),
        gold_candidates=gold_candidates,
        gold_answers=gold_answers,
    )


def _done(
    records: dict[tuple[str, str, int], AnswerRecord], reference_set: ReferenceSet
) -> set[tuple[str, int]]:
    """(candidate, index) of the answers of one query set already finished."""
    return {(candidate, index) for kind, candidate, index in records if kind == reference_set}


def _query_major(
    records: dict[tuple[str, str, int], AnswerRecord],
    reference_set: ReferenceSet,
    candidates: Sequence[Candidate],
    count: int,
) -> list[AnswerRecord]:
    """One query set's records, every answerer for query 0, then query 1... (results.jsonl's order)."""
    return [
        records[(reference_set, candidate.name, index)] for index in range(count) for candidate in candidates
    ]
