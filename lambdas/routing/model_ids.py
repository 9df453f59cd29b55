"""What a Bedrock model id says: its cross-region profile geography and its foundation model.

One rule for the whole project (IAM ARNs and cost previews in cdk_app.config, prices in the
report, the model checks of Plan). Standard library only: the CDK app and every Lambda
import it cheaply.
"""

from __future__ import annotations

PROFILE_GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"})


def inference_profile_geography(model_id: str) -> str | None:
    """'us' for 'us.amazon.nova-pro-v1:0'; None for a foundation model id or an ARN."""
    if model_id.startswith("arn:"):
        return None
    head, _, rest = model_id.partition(".")
    return head if rest and "." in rest and head in PROFILE_GEOGRAPHIES else None


def foundation_model_of(model_id: str, default: str) -> str:
    """The foundation model id behind a model id, inference profile id or ARN, without a context-window suffix.

    An ARN naming no model (a custom model deployment) stands for `default`'s foundation
    model (the caller says which base it has); an ARN `default` is returned as it is.
    """
    if model_id.startswith("arn:"):
        tail = model_id.rsplit("/", 1)[-1]
        if "." not in tail:
            return default if default.startswith("arn:") else foundation_model_of(default, default)
        model_id = tail
    if inference_profile_geography(model_id):
        model_id = model_id.split(".", 1)[1]
    # amazon.nova-micro-v1:0:128k -> amazon.nova-micro-v1:0 (a context-window variant is priced the same)
    parts = model_id.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else model_id


def on_demand_model_id(model_id: str) -> str:
    """The id to invoke a base model on demand with: without a context-window suffix.

    `amazon.nova-micro-v1:0:128k` names the variant to customise; on-demand calls use
    `amazon.nova-micro-v1:0`. ARNs and profile ids are used as they are.
    """
    if model_id.startswith("arn:"):
        return model_id
    parts = model_id.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else model_id
