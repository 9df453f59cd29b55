"""Cost per one million routed queries, from configured prices and measured tokens.

Prices are configuration (`prices.models` in cdk.json, USD per 1M input / output tokens),
handed to the Report Lambda as JSON. They are keyed by foundation model id; `price_key`
maps what a candidate was invoked with (an inference profile id, a foundation model id with
a context-window suffix, or a custom model deployment ARN) to that key, the same way
`cdk_app.config.foundation_model_of` does (a unit test holds the two together).
"""

from __future__ import annotations

from collections.abc import Mapping

from .events import Price

_PROFILE_GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})


def price_key(model_id: str, default: str) -> str:
    """Foundation model id behind `model_id`; `default`'s for an ARN naming none (a custom deployment)."""
    if model_id.startswith("arn:"):
        tail = model_id.rsplit("/", 1)[-1]
        if "." not in tail:
            return default if default.startswith("arn:") else _foundation(default)
        model_id = tail
    return _foundation(model_id)


def _foundation(model_id: str) -> str:
    head, _, rest = model_id.partition(".")
    if rest and "." in rest and head in _PROFILE_GEOGRAPHIES:
        model_id = rest
    # amazon.nova-micro-v1:0:128k -> amazon.nova-micro-v1:0 (a context-window variant is priced the same)
    parts = model_id.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else model_id


def price_for(prices: Mapping[str, Price], model_id: str, *, custom_model_base: str) -> Price | None:
    """The price of a candidate; a distilled deployment is priced as its base student model."""
    return prices.get(price_key(model_id, custom_model_base))


def cost_per_million_queries(
    price: Price | None, *, input_tokens: int, output_tokens: int, calls: int
) -> float | None:
    """USD for 1,000,000 queries at the measured mean tokens per call; None without a price or calls.

    cost = mean input tokens x input price per 1M tokens + mean output tokens x output price per 1M
    tokens (a million queries times tokens-per-query over a million tokens cancels out).
    """
    if price is None or calls <= 0:
        return None
    mean_in = input_tokens / calls
    mean_out = output_tokens / calls
    return round(mean_in * price.input_per_1m + mean_out * price.output_per_1m, 6)
