"""Rollout controller: abort a rollout when a rollout alarm fires, finish it when `auto_finish_after` is reached.

Input: an EventBridge event: "CloudWatch Alarm State Change" of a rollout alarm entering ALARM, or the
"Scheduled Event" of the controller's 5-minute schedule (docs/rollout.md).
Output: `{"action": "aborted" | "finished" | "none", "reason", ...}`; `{"action": "ignored", ...}` for an
event that is neither (logged, nothing changed).
Raises RolloutControlFailed when SSM, CloudWatch or SNS fail (logged; EventBridge's asynchronous
invocation retries it).
Logic: routing.evaluation.rollout_control.handle.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.errors import InvalidEvent, RolloutControlFailed
from routing.evaluation.rollout_control import RolloutControlEvent, handle
from routing.observability import logger, metrics, tracer
from routing.settings import RolloutControlEnv
from routing.state import parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = parse_event(RolloutControlEvent, event)
    except InvalidEvent as exc:
        logger.warning(
            "Event ignored: not an alarm state change or a scheduled event", extra={"error": str(exc)}
        )
        return {"action": "ignored", "reason": str(exc)}
    logger.append_keys(detail_type=request.root.detail_type)
    try:
        result = handle(
            request,
            settings=RolloutControlEnv.from_environ(os.environ),
            ssm=clients.client("ssm"),
            sns=clients.client("sns"),
            cloudwatch=clients.client("cloudwatch"),
            now=clients.now(),
        )
    except RolloutControlFailed as exc:
        logger.exception("Rollout control failed", extra={"error": str(exc)})
        raise
    summary = result.summary()
    logger.info(f"Rollout {result.action}" if result.action != "none" else "Rollout unchanged", extra=summary)
    metrics.add_metric(
        name="RolloutsAborted", unit=MetricUnit.Count, value=1 if result.action == "aborted" else 0
    )
    metrics.add_metric(
        name="RolloutsFinished", unit=MetricUnit.Count, value=1 if result.action == "finished" else 0
    )
    return summary
