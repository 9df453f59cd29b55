"""The fourth candidate, "local": the run's tier-0 model answers the held-out (and gold) queries in process.

No model call: `LocalModel.predict` answers from the artifact TrainLocalModel wrote
(`$.local_model`), whose bytes are checked against the sha256 training recorded. Each answer is
the decision's flat JSON (what the router would serve), parsed and scored by the same rubric as
every candidate's, with its in-process latency and the model's confidence on the record (the
Report step calibrates the router's threshold from them). Tokens are zero; the judge does not
score the local candidate (its reasoning is a fixed label, and the judge job's prompts stay the
Bedrock candidates').

A run without a trained model, or whose artifact does not load, is evaluated without the local
candidate; `LocalLoad.error` says why, and the evaluation manifest and the report carry it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..contract import LabelledExample
from ..converse import ConverseResult
from ..layout import split_s3_uri
from ..local_model import LocalModel, LocalModelInvalid, load_local_model
from ..settings import LOCAL
from ..state import LocalModelState
from ..storage import get
from .answering import CallOutcome, Candidate

LocalFinished = Callable[[Candidate, int, LabelledExample, CallOutcome, float], None]


@dataclass(frozen=True)
class LocalLoad:
    """The run's tier-0 model as Evaluate found it: the model and its candidate, or why there is none."""

    model: LocalModel | None
    candidate: Candidate | None
    error: str | None

    def to_dict(self) -> dict[str, object]:
        """The evaluation manifest's `local_model` entry."""
        return {
            "evaluated": self.model is not None,
            "s3_uri": self.candidate.model_id if self.candidate else None,
            "error": self.error,
        }


def load_run_local_model(s3: object, state: LocalModelState | None) -> LocalLoad:
    """Read and check the run's artifact; never raises for a missing, changed or invalid one."""
    if state is None or not state.trained or not state.s3_uri:
        reason = (state.error or "the tier-0 training did not produce a model") if state else None
        if state is not None and state.cause:
            reason = f"{reason}: {state.cause[:500]}"
        return LocalLoad(None, None, reason or "the run has no tier-0 training step")
    bucket, key = split_s3_uri(state.s3_uri)
    stored = get(s3, bucket, key)
    if stored is None:
        return LocalLoad(None, None, f"the tier-0 model {state.s3_uri} does not exist")
    if state.sha256 and hashlib.sha256(stored.body).hexdigest() != state.sha256:
        return LocalLoad(
            None, None, f"the tier-0 model {state.s3_uri} changed since training (sha256 differs)"
        )
    try:
        model = load_local_model(stored.body)
    except LocalModelInvalid as exc:
        return LocalLoad(None, None, f"the tier-0 model {state.s3_uri} is invalid: {exc}")
    return LocalLoad(model, Candidate(LOCAL, state.s3_uri), None)


def answer_locally(
    model: LocalModel,
    work: Iterable[tuple[Candidate, int, LabelledExample]],
    on_finished: LocalFinished,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """Answer each (candidate, index, example) with the model; returns how many were answered."""
    answered = 0
    for candidate, index, example in work:
        started = clock()
        prediction = model.predict(example.query)
        text = json.dumps(prediction.decision.to_dict(), ensure_ascii=False)
        latency_ms = round((clock() - started) * 1000.0, 6)
        answer = ConverseResult(text, "end_turn", 0, 0, latency_ms)
        on_finished(candidate, index, example, CallOutcome(answer, None, 1), prediction.confidence)
        answered += 1
    return answered
