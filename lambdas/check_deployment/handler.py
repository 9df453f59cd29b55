"""Check deployment step: one poll of the run's custom model deployment.

Input: the execution state (reads `$.run`, `$.deployment`).
Output: the updated `$.deployment` (status Creating|Active, polls + 1).
Raises DeploymentFailed or DeploymentTimedOut.
Logic: routing.pipeline.deployment.check_run_deployment.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.deployment import check_run_deployment
from routing.state import CheckDeploymentEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CheckDeploymentEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    # Every poll counts, the one that fails too.
    metrics.add_metric(name="DeploymentPolls", unit=MetricUnit.Count, value=1)
    result = check_run_deployment(request, bedrock=clients.client("bedrock"), now=clients.now())
    logger.info("Deployment polled", extra={"status": result["status"], "polls": result["polls"]})
    return result
