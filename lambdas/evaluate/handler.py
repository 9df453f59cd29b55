"""Evaluate: the candidates answer the held-out queries (resumable, see routing.evaluation.steps).

Input: the execution state (`$.run`, `$.dataset`, `$.deployment`). Output (`$.evaluation`):
`{"results_key", "judge_input_key", "candidates", "answers", "done", "complete", "judge_prompts",
"offline_stand_in"}`. The state machine calls it again while `complete` is false.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from routing.clients import client, timer
from routing.evaluation.events import EvaluateEnv
from routing.evaluation.steps import evaluate_step
from routing.observability import logger, metrics, tracer
from routing.state import EvaluateEvent, parse_event

# Without a Lambda context (local dry run) an invocation may run this long.
DEFAULT_BUDGET_SECONDS = 900


def invocation_budget(context: Any, env: EvaluateEnv) -> tuple[Callable[[], bool], Callable[[], bool]]:
    """(soft, hard) limits of this invocation, from the Lambda context's remaining time.

    Soft: stop starting calls `reserve_seconds` (120 s) before the function times out. Hard: a
    quarter of the reserve later (90 s before the timeout), so that a call started before it
    (connect 5 s + read timeout 60 s) and the write of what finished still fit. Evaluate ignores
    the soft limit until one call of the invocation has finished.
    """
    remaining = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_BUDGET_SECONDS
    started = time.monotonic()
    soft_at = started + remaining - env.reserve_seconds
    hard_at = started + remaining - env.reserve_seconds * 3 / 4
    return (lambda: time.monotonic() >= soft_at), (lambda: time.monotonic() >= hard_at)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(EvaluateEvent, event)
    env = EvaluateEnv.from_environ(os.environ)
    should_stop, must_stop = invocation_budget(context, env)
    return evaluate_step(
        request, env, s3=client("s3"), runtime=client("bedrock-runtime", "evaluation"),
        should_stop=should_stop, must_stop=must_stop, clock=timer,
    )  # fmt: skip
