"""Which ARNs an IAM policy must name to let a caller use a Bedrock model id.

A foundation model id needs its foundation-model ARN; a cross-region inference profile
needs the profile and the foundation model in every region the profile routes to; a
full ARN (custom model deployment, imported model) is used as it is.
"""

from __future__ import annotations

from cdk_app.config import AppConfig, inference_profile_geography


def invoke_model_arns(config: AppConfig, model_id: str, *, account: str) -> list[str]:
    """ARNs for bedrock:InvokeModel / Converse on `model_id`, narrowest first."""
    if model_id.startswith("arn:"):
        return [model_id]
    arns = config.foundation_model_arns(model_id)
    if inference_profile_geography(model_id):
        arns.insert(0, f"arn:aws:bedrock:{config.region}:{account}:inference-profile/{model_id}")
    return arns
