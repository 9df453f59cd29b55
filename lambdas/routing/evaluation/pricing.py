"""Which price applies to a model id, and the cost per one million routed queries.

Prices are configuration (`prices.models` in cdk.json, USD per 1M input / output tokens),
handed to the Report Lambda as JSON. They are keyed by foundation model id;
`routing.model_ids.foundation_model_of` maps what a candidate was invoked with (an inference
profile id, a foundation model id with a context-window suffix, or an ARN) to that key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from routing.model_ids import foundation_model_of

if TYPE_CHECKING:
    from ..settings import ModelPrice


def price_for(
    prices: Mapping[str, ModelPrice], model_id: str, *, custom_model_base: str
) -> ModelPrice | None:
    """The price of a candidate; a distilled deployment is priced as its base student model."""
    return prices.get(foundation_model_of(model_id, custom_model_base))


def cost_per_million_queries(
    price: ModelPrice | None, *, input_tokens: int, output_tokens: int, calls: int
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
