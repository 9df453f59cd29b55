"""CheckJudge step: one poll of the run's LLM-judge job (stopped, TimedOut, past the deadline or poll budget).

Input: the execution state (reads `$.run`, `$.judge`).
Output: the updated `$.judge` (`{"job_arn", "job_name", "status", "failure", "polls"}`, polls + 1); the
state machine waits while the status is InProgress or Stopping. A Skipped judge passes through.
Raises BedrockThrottled, which the state machine retries.
Logic: routing.evaluation.judge_job.check_judge_step.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.evaluation.events import CheckJudgeEnv
from routing.evaluation.judge_job import check_judge_step
from routing.observability import logger, metrics, tracer
from routing.state import CheckJudgeEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CheckJudgeEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    # Every poll counts, the one that fails too.
    metrics.add_metric(name="JudgePolls", unit=MetricUnit.Count, value=1)
    result = check_judge_step(
        request,
        settings=CheckJudgeEnv.from_environ(os.environ),
        bedrock=clients.client("bedrock"),
        now=clients.now(),
    )
    logger.info(
        "Judge job polled", extra={"status": result.status, "polls": result.polls, "failure": result.failure}
    )
    return result.summary()
