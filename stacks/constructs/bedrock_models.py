"""The IAM statements that let a caller use a Bedrock model id, exactly as IAM authorizes the call.

- A foundation model id: its foundation-model ARN in the stack's region, with the id as sent
  (`amazon.nova-micro-v1:0:128k` is not `amazon.nova-micro-v1:0`: IAM compares ARNs literally).
- A full ARN (custom model deployment, imported model): that ARN.
- A cross-region inference profile: the profile, and its foundation model in *any* region but
  only when reached through that profile (condition `bedrock:InferenceProfileArn`, a condition
  key of bedrock:InvokeModel in the Service Authorization Reference). AWS decides which regions a
  profile routes to and adds some over time; a static region table denies the calls it misses.
  Bedrock user guide, "Prerequisites for inference profiles": "To restrict user access so that
  foundation models can only be invoked through an inference profile, use the Condition field
  with the bedrock:InferenceProfileArn key".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from constructs import IConstruct

from cdk_app.config import AppConfig, foundation_model_of, inference_profile_geography
from stacks.constructs.nag import acknowledge

ROUTED_MODEL_REASON = (
    "A cross-region inference profile routes each call to its foundation model in a region AWS chooses: the "
    "model is granted in every region, but only through this project's inference profile "
    "(condition bedrock:InferenceProfileArn)."
)


# The actions whose authorization carries bedrock:InferenceProfileArn (Service Authorization Reference).
ROUTED_ACTIONS = frozenset({"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"})


@dataclass(frozen=True)
class ModelGrant:
    """What IAM checks for calls naming one model id: `direct` ARNs, and `routed` ones via `profile`."""

    direct: list[str]
    profile: str | None = None
    routed: str | None = None


def model_grant(config: AppConfig, model_id: str, *, account: str) -> ModelGrant:
    if model_id.startswith("arn:"):
        return ModelGrant(direct=[model_id])
    if inference_profile_geography(model_id) is None:
        return ModelGrant(direct=[f"arn:aws:bedrock:{config.region}::foundation-model/{model_id}"])
    profile = f"arn:aws:bedrock:{config.region}:{account}:inference-profile/{model_id}"
    base = foundation_model_of(model_id, model_id)
    return ModelGrant(direct=[profile], profile=profile, routed=f"arn:aws:bedrock:*::foundation-model/{base}")


def model_statements(
    config: AppConfig,
    sid: str,
    actions: Sequence[str],
    model_ids: Iterable[str],
    *,
    account: str,
    extra_resources: Sequence[str] = (),
) -> list[iam.PolicyStatement]:
    """`actions` on the models (and `extra_resources`): one statement, plus one per inference profile for
    the invoke actions (the only ones IAM authorizes on the routed region's model with the profile's ARN)."""
    grants = [model_grant(config, model_id, account=account) for model_id in dict.fromkeys(model_ids)]
    direct = list(dict.fromkeys([*(arn for grant in grants for arn in grant.direct), *extra_resources]))
    statements = [iam.PolicyStatement(sid=sid, actions=list(actions), resources=direct)]
    routed_actions = [action for action in actions if action in ROUTED_ACTIONS]
    routed = {grant.profile: grant.routed for grant in grants if grant.profile and grant.routed}
    for index, (profile, model_arn) in enumerate(routed.items() if routed_actions else (), start=1):
        statements.append(
            iam.PolicyStatement(
                sid=f"{sid}ViaProfile{index}",
                actions=routed_actions,
                resources=[model_arn],
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": profile}},
            )
        )
    return statements


def add_model_statements(role: iam.IRole, statements: Iterable[iam.PolicyStatement]) -> None:
    """Add the statements to `role` and acknowledge cdk-nag's IAM5 for the routed models' region wildcard."""
    findings = []
    for statement in statements:
        role.add_to_principal_policy(statement)
        findings += [
            f"Resource::{arn}" for arn in statement.resources if arn.startswith("arn:aws:bedrock:*:")
        ]
    if findings:
        scope: IConstruct = role
        acknowledge(scope, "AwsSolutions-IAM5", ROUTED_MODEL_REASON, findings=findings)
