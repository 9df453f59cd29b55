"""Prepare dataset step: merge, de-duplicate, split, write train/holdout/stats.

Input: the execution state (reads `$.run` and `$.generation.batches`).
Output: `{"train_key", "holdout_key", "stats_key", "train_count", "holdout_count", "failed_batches"}`
(`$.dataset`). Raises GenerationIncomplete when too many batches failed, DatasetTooSmall, DatasetTooLarge.
Logic: routing.pipeline.dataset.prepare_dataset.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.dataset import prepare_dataset
from routing.state import PrepareDatasetEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(PrepareDatasetEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = prepare_dataset(request, s3=clients.client("s3"))
    logger.info("Dataset prepared", extra=result)
    metrics.add_metric(name="TrainingRecords", unit=MetricUnit.Count, value=result["train_count"])
    metrics.add_metric(name="HoldoutRecords", unit=MetricUnit.Count, value=result["holdout_count"])
    return result
