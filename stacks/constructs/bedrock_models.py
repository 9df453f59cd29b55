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

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct
from routing.model_ids import foundation_model_of, inference_profile_geography

from stacks.constructs.nag import acknowledge_resources

ROUTED_MODEL_REASON = (
    "A cross-region inference profile routes each call to its foundation model in a region AWS chooses: the "
    "model is granted in every region, but only through this project's inference profile "
    "(condition bedrock:InferenceProfileArn)."
)


# The actions whose authorization carries bedrock:InferenceProfileArn (Service Authorization Reference).
ROUTED_ACTIONS = frozenset({"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"})


def bedrock_arn(
    scope: IConstruct, resource: str, *, region: str | None = None, account: str | None = None
) -> str:
    """`arn:<partition>:bedrock:<region>:<account>:<resource>` in the scope's stack.

    `region` and `account` default to the stack's; `""` leaves them out (foundation models), `"*"` is any.
    """
    return Stack.of(scope).format_arn(
        service="bedrock",
        resource=resource,
        region=region,
        account=account,
        arn_format=ArnFormat.NO_RESOURCE_NAME,
    )


@dataclass(frozen=True)
class ModelGrant:
    """What IAM checks for calls naming one model id: `direct` ARNs, and `routed` ones via `profile`."""

    direct: list[str]
    profile: str | None = None
    routed: str | None = None


def model_grant(scope: IConstruct, model_id: str) -> ModelGrant:
    """The ARNs IAM authorizes a call naming `model_id` on, from the scope's stack (partition, region, account)."""
    if model_id.startswith("arn:"):
        return ModelGrant(direct=[model_id])
    if inference_profile_geography(model_id) is None:
        return ModelGrant(direct=[bedrock_arn(scope, f"foundation-model/{model_id}", account="")])
    profile = bedrock_arn(scope, f"inference-profile/{model_id}")
    base = foundation_model_of(model_id, model_id)
    routed = bedrock_arn(scope, f"foundation-model/{base}", region="*", account="")
    return ModelGrant(direct=[profile], profile=profile, routed=routed)


def model_statements(
    scope: IConstruct,
    sid: str,
    actions: Sequence[str],
    model_ids: Iterable[str],
    *,
    extra_resources: Sequence[str] = (),
) -> list[iam.PolicyStatement]:
    """`actions` on the models (and `extra_resources`): one statement, plus one per inference profile for
    the invoke actions (the only ones IAM authorizes on the routed region's model with the profile's ARN)."""
    grants = [model_grant(scope, model_id) for model_id in dict.fromkeys(model_ids)]
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
    routed = []
    for statement in statements:
        role.add_to_principal_policy(statement)
        if "bedrock:InferenceProfileArn" in statement.conditions.get("StringEquals", {}):
            routed += statement.resources
    if routed:
        acknowledge_resources(role, ROUTED_MODEL_REASON, routed)
