"""Report: aggregate the answers (and judge scores), evaluate the gate, write report.json/md/html.

Input: the execution state (`$.run`, `$.dataset`, `$.evaluation`, `$.judge`). Output (`$.report`):
`{"report_key", "markdown_key", "html_key", "html_uri", "console_url", "gate": {"passed", "reasons"},
"summary", "subject", "message"}`.
"""

from __future__ import annotations

import os
from typing import Any

from routing.clients import client
from routing.evaluation.events import ReportEnv
from routing.evaluation.steps import report_step
from routing.observability import logger, metrics, tracer
from routing.state import ReportEvent, parse_event


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = parse_event(ReportEvent, event)
    region = os.environ.get("AWS_REGION", "us-east-1")
    return report_step(request, ReportEnv.from_environ(os.environ), s3=client("s3"), region=region)
