"""RouterApi stack: the endpoint the search engine calls on every query.

REST API (regional, IAM or API-key auth, validated, throttled, WAF) -> router Lambda
(active model -> fallback model -> heuristic) + dashboard and alarms, the rollout controller
(rollout alarms, their rule and schedule: docs/rollout.md), and, when `router_shared_cache.enabled`,
the DynamoDB table of its shared decision cache. The active-model
parameter lives in the storage stack; this stack only reads it (by its configured name,
so the two stacks share no CloudFormation export and deploy independently).
Outputs are a public contract (README, operator CLI).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.config import AppConfig
from cdk_app.stack_outputs import (
    OUTPUT_ALARM_TOPIC,
    OUTPUT_API_ID,
    OUTPUT_API_KEY_ID,
    OUTPUT_API_URL,
    OUTPUT_BATCH_URL,
    OUTPUT_DASHBOARD,
    OUTPUT_FUNCTION,
    OUTPUT_ROUTE_URL,
)
from stacks.constructs.rollout_control import RolloutControl
from stacks.constructs.router_function import RouterFunction
from stacks.constructs.router_monitoring import RouterMonitoring
from stacks.constructs.router_rest_api import RouterRestApi
from stacks.constructs.router_shared_cache import RouterSharedCache
from stacks.constructs.runtime_function import RuntimeLayer
from stacks.storage_stack import StorageStack, active_model_parameter_arn


class RouterApiStack(Stack):
    """The router API, its function, and its monitoring."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, storage: StorageStack, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        # Deployed after the data and roles. The active-model parameter is no stack's resource: the
        # first promotion creates it, and until then the router serves the configured default.
        self.add_stack_dependency(storage)
        parameter_arn = active_model_parameter_arn(self, config)

        layer = RuntimeLayer(self, "RuntimeLayer")
        self.shared_cache = (
            RouterSharedCache(self, "SharedCache") if config.router_shared_cache.enabled else None
        )
        self.router = RouterFunction(
            self,
            "RouterFunction",
            config=config,
            layer=layer,
            parameter_arn=parameter_arn,
            bucket=storage.bucket,
            shared_cache_table=self.shared_cache.table.table_name if self.shared_cache else None,
        )
        if self.shared_cache is not None:
            self.shared_cache.grant_lookups(self.router.role)
        self.rest_api = RouterRestApi(self, "RouterApi", config=config, function=self.router.function)
        self.monitoring = RouterMonitoring(
            self,
            "Monitoring",
            config=config,
            api=self.rest_api.api,
            stage=self.rest_api.stage,
            function=self.router.function,
        )
        self.rollout = RolloutControl(
            self,
            "Rollout",
            config=config,
            layer=layer,
            topic=self.monitoring.topic,
            dashboard=self.monitoring.dashboard,
            parameter_arn=parameter_arn,
        )

        api = self.rest_api.api
        CfnOutput(self, OUTPUT_API_URL, value=api.url, description="Base URL of the router API (stage URL)")
        CfnOutput(self, OUTPUT_ROUTE_URL, value=api.url_for_path("/route"), description="POST a query here")
        CfnOutput(self, OUTPUT_BATCH_URL, value=api.url_for_path("/route/batch"),
                  description="POST up to the configured number of queries here")  # fmt: skip
        CfnOutput(self, OUTPUT_API_ID, value=api.rest_api_id, description="REST API id")
        if self.rest_api.api_key is not None:
            CfnOutput(self, OUTPUT_API_KEY_ID, value=self.rest_api.api_key.key_id,
                      description="API key id (aws apigateway get-api-key --api-key <id> --include-value)")  # fmt: skip
        CfnOutput(
            self, OUTPUT_FUNCTION, value=self.router.function.function_name, description="Router Lambda"
        )
        CfnOutput(self, OUTPUT_DASHBOARD, value=self.monitoring.dashboard.dashboard_name,
                  description="CloudWatch dashboard of the router")  # fmt: skip
        CfnOutput(self, OUTPUT_ALARM_TOPIC, value=self.monitoring.topic.topic_arn,
                  description="SNS topic the router alarms notify")  # fmt: skip
