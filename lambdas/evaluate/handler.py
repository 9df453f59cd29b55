"""Evaluate step: the candidates answer the held-out (and gold) queries, resumably, within this invocation's time.

Input: the execution state (reads `$.run`, `$.dataset`, `$.deployment`).
Output: `{"results_key", "judge_input_key", "candidates", "answers", "done", "complete", "judge_prompts",
"offline_stand_in", "gold_candidates", "gold_answers"}` (`$.evaluation`); the state machine calls it again
while `complete` is false.
Raises HoldoutInvalid (no usable held-out dataset) and EvaluationStalled (an invocation finished no answer).
Logic: routing.evaluation.evaluate.evaluate_step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.evaluation.evaluate import evaluate_step
from routing.observability import logger, metrics, tracer
from routing.settings import EvaluateEnv
from routing.state import EvaluateEvent, parse_event

# Without a Lambda context (local dry run) an invocation may run this long.
DEFAULT_BUDGET_SECONDS = 900


def invocation_budget(context: Any, settings: EvaluateEnv) -> tuple[Callable[[], bool], Callable[[], bool]]:
    """(soft, hard) limits of this invocation, from the Lambda context's remaining time.

    Soft: stop starting calls `reserve_seconds` (120 s) before the function times out. Hard: a
    quarter of the reserve later (90 s before the timeout), so that a call started before it
    (connect 5 s + read timeout 60 s) and the write of what finished still fit. Evaluate ignores
    the soft limit until one call of the invocation has finished.
    """
    remaining = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_BUDGET_SECONDS
    started = time.monotonic()
    soft_at = started + remaining - settings.reserve_seconds
    hard_at = started + remaining - settings.reserve_seconds * 3 / 4
    return (lambda: time.monotonic() >= soft_at), (lambda: time.monotonic() >= hard_at)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(EvaluateEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    settings = EvaluateEnv.from_environ(os.environ)
    should_stop, must_stop = invocation_budget(context, settings)
    result = evaluate_step(
        request,
        settings=settings,
        s3=clients.client("s3"),
        runtime=clients.client("bedrock-runtime", "evaluation"),
        should_stop=should_stop,
        must_stop=must_stop,
        clock=clients.timer,
    )
    logger.info(
        "Held-out queries answered",
        extra={
            "candidates": len(result.candidates),
            "pending": result.pending,
            "answered": result.answered,
            "done": result.done,
            "answers": result.answers,
            "gold_answers": result.gold_answers,
            "complete": result.complete,
        },
    )
    metrics.add_metric(name="EvaluationAnswers", unit=MetricUnit.Count, value=result.answered)
    return result.summary()
