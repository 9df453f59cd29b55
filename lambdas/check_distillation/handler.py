"""Check distillation step: one poll of the run's customization job.

Input: the execution state (reads `$.run`, `$.distillation`).
Output: the updated `$.distillation` (status InProgress|Stopping|Completed, polls + 1).
Raises DistillationFailed, DistillationStopped or DistillationTimedOut.
Logic: routing.pipeline.distillation.check_distillation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.distillation import check_distillation
from routing.state import CheckDistillationEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(CheckDistillationEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    # Every poll counts, the one that fails too.
    metrics.add_metric(name="DistillationPolls", unit=MetricUnit.Count, value=1)
    result = check_distillation(request, bedrock=clients.client("bedrock"), now=clients.now())
    logger.info("Distillation job polled", extra={"status": result["status"], "polls": result["polls"]})
    return result
