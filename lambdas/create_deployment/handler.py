"""Create deployment step: an on-demand deployment of the distilled model, or the existing one.

Input: the execution state (reads `$.run`, `$.distillation`).
Output: `{"deployment_arn", "deployment_name", "status", "deadline", "polls"}` (`$.deployment`).
Raises DistillationFailed (no custom model to deploy), DeploymentFailed when the reused deployment failed,
and BedrockThrottled, which the state machine retries.
Logic: routing.pipeline.deployment.create_run_deployment.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.deployment import create_run_deployment
from routing.pipeline.settings import PipelineSettings
from routing.state import CreateDeploymentEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CreateDeploymentEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = create_run_deployment(
        request,
        settings=PipelineSettings.from_environ(os.environ),
        bedrock=clients.client("bedrock"),
        now=clients.now(),
    )
    logger.info("Deployment requested", extra=result)
    metrics.add_metric(name="DeploymentsRequested", unit=MetricUnit.Count, value=1)
    return result
