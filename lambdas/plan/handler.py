"""Plan step: validate the run, check its models with Bedrock, write the manifest, plan the batches.

Input: `{"input": <execution input>, "execution": {"name", "id", "start_time"}}`.
Output: `{"run": <$.run>, "generation": {"items": [<batch>...], "target", "examples_per_call"}}`.
Raises InvalidInput (the input, a rule or a brought dataset), ModelNotAvailable, ModelEndOfLife,
ModelNotDistillable, and BedrockThrottled, which the state machine retries.
Logic: routing.pipeline.planning.plan_run.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.planning import plan_run
from routing.pipeline.settings import PipelineSettings
from routing.state import PlanEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(PlanEvent, event)
    named = request.input.get("run_id") if isinstance(request.input, dict) else None
    logger.append_keys(run_id=named if isinstance(named, str) else request.execution.name)
    result = plan_run(
        request,
        settings=PipelineSettings.from_environ(os.environ),
        bedrock=clients.client("bedrock"),
        s3=clients.client("s3"),
        now=clients.now(),
    )
    run = result["run"]
    logger.info(
        "Run planned",
        extra={
            "run_id": run["run_id"],
            "batches": len(result["generation"]["items"]),
            "warnings": run["warnings"],
        },
    )
    metrics.add_metric(name="RunsPlanned", unit=MetricUnit.Count, value=1)
    return result
