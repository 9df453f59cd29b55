"""StartJudge: start the Bedrock LLM-judge evaluation job over the precomputed answers.

Input: the execution state (`$.run`, `$.evaluation`). Output (`$.judge`):
`{"job_arn", "job_name", "status": "InProgress" | "Skipped", "failure"}`.
"""

from __future__ import annotations

import os
from typing import Any

from routing.clients import client
from routing.evaluation.events import StartJudgeEnv
from routing.evaluation.steps import start_judge_step
from routing.observability import logger, metrics, tracer
from routing.state import StartJudgeEvent, parse_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(StartJudgeEvent, event)
    return start_judge_step(request, StartJudgeEnv.from_environ(os.environ), bedrock=client("bedrock"))
