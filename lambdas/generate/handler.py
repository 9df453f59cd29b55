"""Generate step (one Map item): one teacher call, one labelled JSONL part in S3.

Input: `{"run": <$.run>, "batch": {"batch", "focus", "difficulty", "count"}, "execution": <execution id>}`.
Output: `{"batch", "valid", "dropped", "skipped"}` (counts only: the Map collects one per batch).
Raises TeacherThrottled on throttling and transport faults (timeouts, closed connections), which the
Map's Retry backs off and retries; GenerationAborted when the first batches are mostly invalid.
Logic: routing.pipeline.generation.generate_batch.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.generation import generate_batch
from routing.pipeline.settings import PipelineSettings
from routing.state import GenerateEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(GenerateEvent, event)
    logger.append_keys(run_id=request.run.run_id, batch=request.batch.batch)
    settings = PipelineSettings.from_environ(os.environ)
    result = generate_batch(
        request,
        runtime=clients.client("bedrock-runtime", "teacher"),
        s3=clients.client("s3"),
        project=settings.project_name,
        stage=settings.stage,
    )
    if result.skipped:
        logger.info("Batch already generated: part reused", extra=result.summary())
    else:
        logger.info(
            "Batch generated",
            extra={
                **result.summary(),
                "stop_reason": result.stop_reason,
                "output_tokens": result.output_tokens,
                "parse_errors": result.errors,
            },
        )
        metrics.add_metric(name="TeacherExamplesValid", unit=MetricUnit.Count, value=result.valid)
        metrics.add_metric(name="TeacherItemsDropped", unit=MetricUnit.Count, value=result.dropped)
        metrics.add_metric(name="TeacherOutputTokens", unit=MetricUnit.Count, value=result.output_tokens)
    return result.summary()
