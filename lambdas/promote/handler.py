"""Promote step: write the distilled deployment to the active-model parameter (gate passed only).

Input: the execution state (reads `$.run`, `$.deployment`, `$.report`).
Output: `{"promoted", "model_id", "previous_model_id", "run_id", "changed"}` (`$.promotion`), plus
`rollout` when the configuration's `promotion.on_pass` starts a shadow or canary rollout instead.
Raises GateNotPassed when called for a run whose gate failed: the parameter is never written then.
Logic: routing.evaluation.promotion.promote_step.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.evaluation.promotion import promote_step
from routing.observability import logger, metrics, tracer
from routing.settings import PromoteEnv
from routing.state import PromoteEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(PromoteEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = promote_step(request, settings=PromoteEnv.from_environ(os.environ), ssm=clients.client("ssm"))
    if "rollout" in result:
        logger.info(
            "Rollout started" if result["changed"] else "Rollout already running: unchanged", extra=result
        )
    else:
        logger.info(
            "Model promoted" if result["changed"] else "Model already active: unchanged", extra=result
        )
    metrics.add_metric(
        name="ModelsPromoted",
        unit=MetricUnit.Count,
        value=1 if result["promoted"] and result["changed"] else 0,
    )
    metrics.add_metric(
        name="RolloutsStarted",
        unit=MetricUnit.Count,
        value=1 if "rollout" in result and result["changed"] else 0,
    )
    return result
