"""One observability setup for every Lambda: Powertools Logger, Tracer and Metrics.

Import these three objects; never create others. The service name and metrics namespace
come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE, set per function by
the CDK construct. Outside Lambda (tests, the local dry run) tracing is disabled by
Powertools itself and metrics are flushed only by handlers decorated with
`metrics.log_metrics`.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

__all__ = ["logger", "metrics", "tracer"]
