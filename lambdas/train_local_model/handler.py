"""Train local model step: fit the run's tier-0 model on its training set while the distillation job runs.

Input: the execution state (reads `$.run`, `$.dataset`).
Output: `{"trained", "key", "s3_uri", "sha256", "examples", "features", "seconds", "train_loss", "error"}`
(`$.local_model`); `trained` is false (with `error`) for a run without a training file.
Raises TrainingDataInvalid (no or a bad training file); the state machine catches every error of this
step into `$.local_model` with `trained` false and goes on: the run then has no tier-0 model.
Logic: routing.pipeline.local_training.train_local_model.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.observability import logger, metrics, tracer
from routing.pipeline.local_training import train_local_model
from routing.settings import TrainLocalModelEnv
from routing.state import TrainLocalModelEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(TrainLocalModelEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = train_local_model(
        request, settings=TrainLocalModelEnv.from_environ(os.environ), s3=clients.client("s3")
    )
    logger.info("Local model trained" if result["trained"] else "Local model not trained", extra=result)
    metrics.add_metric(name="LocalModelsTrained", unit=MetricUnit.Count, value=1 if result["trained"] else 0)
    return result
