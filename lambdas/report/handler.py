"""Report step: aggregate the answers (and the judge's scores), decide the gate, write report.json/md/html.

Input: the execution state (reads `$.run`, `$.dataset`, `$.evaluation`, `$.judge`).
Output: `{"report_key", "markdown_key", "html_key", "html_uri", "console_url", "gate": {"passed", "reasons"},
"summary", "subject", "message"}` (`$.report`). A failed or skipped judge is reported, not fatal.
Raises ResultsMissing when Evaluate wrote no results or no manifest.
Logic: routing.evaluation.reporting.report_step.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from routing import clients
from routing.evaluation.events import ReportEnv
from routing.evaluation.reporting import report_step
from routing.observability import logger, metrics, tracer
from routing.state import ReportEvent, parse_event


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(ReportEvent, event)
    logger.append_keys(run_id=request.run.run_id)
    result = report_step(
        request,
        settings=ReportEnv.from_environ(os.environ),
        s3=clients.client("s3"),
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )
    gate = result["gate"]
    logger.info(
        "Report written",
        extra={"gate_passed": gate["passed"], "reasons": gate["reasons"], "report_key": result["report_key"]},
    )
    metrics.add_metric(name="GatePassed", unit=MetricUnit.Count, value=1 if gate["passed"] else 0)
    return result
