"""Promote: write the distilled deployment to the active-model parameter (gate passed only).

Input: the execution state (`$.run`, `$.deployment`, `$.report`). Output (`$.promotion`):
`{"promoted", "model_id", "previous_model_id", "run_id", "changed"}`. Raises GateNotPassed
when called for a run whose gate failed: the parameter is never written then.
"""

from __future__ import annotations

import os
from typing import Any

from routing.clients import client
from routing.evaluation.events import PromoteEnv
from routing.evaluation.steps import promote_step
from routing.observability import logger, metrics, tracer
from routing.state import PromoteEvent, parse_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(PromoteEvent, event)
    return promote_step(request, PromoteEnv.from_environ(os.environ), ssm=client("ssm"))
