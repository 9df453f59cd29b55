"""StartJudge step: start the run's Bedrock LLM-judge job over the precomputed answers, or reuse it.

Input: the execution state (reads `$.run`, `$.evaluation`).
Output: `{"job_arn", "job_name", "status": "InProgress" | "Skipped", "failure", "polls"}` (`$.judge`);
Skipped, with the reason in `failure`, when the run turned the judge off or has nothing to judge.
Raises BedrockThrottled, which the state machine retries.
Logic: routing.evaluation.judge_job.start_judge_step.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.evaluation.events import StartJudgeEnv
from routing.evaluation.judge_job import start_judge_step
from routing.observability import logger, metrics, tracer
from routing.state import StartJudgeEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(StartJudgeEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = start_judge_step(
        request, settings=StartJudgeEnv.from_environ(os.environ), bedrock=clients.client("bedrock")
    )
    if result.status == "Skipped":
        logger.info("Judge skipped", extra={"reason": result.failure})
        metrics.add_metric(name="JudgeSkipped", unit=MetricUnit.Count, value=1)
    else:
        message = "Judge job already exists: reused" if result.reused else "Judge job started"
        logger.info(message, extra={"job_name": result.job_name, "job_arn": result.job_arn})
        metrics.add_metric(name="JudgeJobsStarted", unit=MetricUnit.Count, value=1)
    return result.summary()
