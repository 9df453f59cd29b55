"""Start distillation step: create the run's model customization job (DISTILLATION), or reuse it.

Input: the execution state (reads `$.run`, `$.dataset`).
Output: `{"job_arn", "job_name", "status", "custom_model_arn", "deadline", "polls"}` (`$.distillation`).
Raises DistillationFailed or DistillationStopped when a reused job ended without a model, and BedrockThrottled,
which the state machine retries.
Logic: routing.pipeline.distillation.start_distillation.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.distillation import start_distillation
from routing.pipeline.settings import PipelineSettings
from routing.state import StartDistillationEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(StartDistillationEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = start_distillation(
        request,
        settings=PipelineSettings.from_environ(os.environ),
        bedrock=clients.client("bedrock"),
        now=clients.now(),
    )
    logger.info("Distillation job started", extra=result)
    metrics.add_metric(name="DistillationJobsStarted", unit=MetricUnit.Count, value=1)
    return result
