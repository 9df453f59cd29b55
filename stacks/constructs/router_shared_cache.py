"""The router's shared decision cache: one DynamoDB table, on demand, with TTL (router_api.shared_cache).

Built only when `router_shared_cache.enabled`. Its properties and why:

- on demand (PAY_PER_REQUEST): the load follows the search engine's traffic, and a cache that
  throttles would only add timeouts; `vsr cost` prices it per 1M queries;
- TTL on `expires_at` (the router writes it, and also checks it on read: TTL deletion is lazy);
- encrypted at rest with DynamoDB's AWS owned key, as the storage stack encrypts its buckets
  with S3's own key: "tables are encrypted at rest with the AWS owned key at no additional
  cost" (DynamoDB Developer Guide, Managing encrypted tables); it holds no query text, only
  hashes of (model, query) and decisions;
- RemovalPolicy DESTROY whatever `removal_policy` says: it is a cache, every item expires
  within `ttl_seconds` and is recomputed by the model on a miss, so nothing is lost with it;
- no point-in-time recovery (acknowledged to cdk-nag): restoring a cache is never wanted.

The router's role may call exactly dynamodb:GetItem and dynamodb:PutItem on this table.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct
from router_api.shared_cache import ATTRIBUTE_EXPIRES, ATTRIBUTE_KEY

from stacks.constructs.nag import acknowledge

SHARED_CACHE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")


class RouterSharedCache(Construct):
    """The table, and the grant of the router's two calls on it."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Decisions",
            partition_key=dynamodb.Attribute(name=ATTRIBUTE_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=ATTRIBUTE_EXPIRES,
            # "All user data stored in Amazon DynamoDB is fully encrypted at rest"; with no encryption type
            # given, with the AWS owned key (DynamoDB Developer Guide, Encryption at rest).
            encryption=dynamodb.TableEncryption.DEFAULT,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.table,
            "AwsSolutions-DDB3",
            "A cache of routing decisions: every item expires within the configured TTL and the model "
            "recomputes it on a miss; a point-in-time restore of it would never be wanted.",
        )

    def grant_lookups(self, role: iam.IRole) -> None:
        """GetItem and PutItem on this table only (what router_api.shared_cache calls)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SharedDecisionCache",
                actions=list(SHARED_CACHE_ACTIONS),
                resources=[self.table.table_arn],
            )
        )
