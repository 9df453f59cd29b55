"""Evaluate: the candidates answer the held-out queries (resumable, see routing.evaluation.steps).

Input: the execution state (`$.run`, `$.dataset`, `$.deployment`). Output (`$.evaluation`):
`{"results_key", "judge_input_key", "candidates", "answers", "done", "complete", "judge_prompts",
"offline_stand_in"}`. The state machine calls it again while `complete` is false.
"""

from __future__ import annotations

import os
import time
from typing import Any

from routing.clients import client, timer
from routing.evaluation.events import EvaluateEnv, EvaluateEvent, parse_event
from routing.evaluation.steps import evaluate_step
from routing.observability import logger, metrics, tracer

# Without a Lambda context (local dry run) an invocation may run this long.
DEFAULT_BUDGET_SECONDS = 900


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(EvaluateEvent, event)
    env = EvaluateEnv.from_environ(os.environ)
    remaining = context.get_remaining_time_in_millis() / 1000 if context else DEFAULT_BUDGET_SECONDS
    deadline = time.monotonic() + remaining - env.reserve_seconds
    return evaluate_step(
        request, env, s3=client("s3"), runtime=client("bedrock-runtime", "evaluation"),
        should_stop=lambda: time.monotonic() >= deadline, clock=timer,
    )  # fmt: skip
