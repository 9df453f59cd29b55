"""CheckJudge: the status of the LLM-judge job (stops it past the evaluation deadline).

Input: the execution state (`$.run`, `$.judge`). Output (`$.judge`):
`{"job_arn", "job_name", "status", "failure"}`; the state machine waits while the status is
InProgress or Stopping.
"""

from __future__ import annotations

import os
from typing import Any

from routing.clients import client
from routing.evaluation.events import CheckJudgeEnv
from routing.evaluation.steps import check_judge_step
from routing.observability import logger, metrics, tracer
from routing.state import CheckJudgeEvent, parse_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CheckJudgeEvent, event)
    return check_judge_step(request, CheckJudgeEnv.from_environ(os.environ), bedrock=client("bedrock"))
