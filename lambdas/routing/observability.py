"""One observability setup for every Lambda: Powertools Logger, Tracer and Metrics.

Import these objects; never create others. The service name and metrics namespace come
from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE, set per function by the CDK
construct. Outside Lambda (tests, the local dry run) Powertools disables tracing itself and
metrics are flushed only by handlers decorated with `metrics.log_metrics`.

`tracer` is created on first use: the Tracer imports the X-Ray SDK, which builds its own
botocore client at import (~100 ms). The router, whose cold start the search engine waits
for, does not use it and relies on Lambda's active tracing for its segments; the pipeline
Lambdas use it to trace their AWS calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()

_tracer: Tracer | None = None


def __getattr__(name: str) -> Any:
    """Module attribute `tracer`, created on first access (PEP 562)."""
    global _tracer
    if name == "tracer":
        if _tracer is None:
            from aws_lambda_powertools import Tracer

            _tracer = Tracer()
        return _tracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["logger", "metrics", "tracer"]  # noqa: F822 - `tracer` is provided by __getattr__


# SNS Publish, Subject (the API reference): "Subjects must be UTF-8 text with no line breaks or control
# characters, and less than 100 characters long." Kept ASCII too: email clients show it as is.
MAX_SNS_SUBJECT_CHARS = 99


def sns_subject(text: str) -> str:
    """`text` as an SNS subject: ASCII, control characters and line breaks as spaces, under 100 characters."""
    printable = "".join(" " if ord(char) < 32 or ord(char) == 127 else char for char in text)
    return printable.encode("ascii", "replace").decode("ascii")[:MAX_SNS_SUBJECT_CHARS]
