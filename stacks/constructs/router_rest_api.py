"""The router's REST API: regional, authenticated, validated, throttled, logged, traced, behind a web ACL.

- `POST /route` and `POST /route/batch` go to the router Lambda (proxy integration) after
  API Gateway validated the body against the request models of `router_openapi`.
- Every other method on those paths, and every other path, also goes to the Lambda, which
  answers 405 / 404 with a JSON message (one implementation of the contract, unit tested).
- Auth: IAM (SigV4) by default; `api_auth=api_key` requires an API key instead, with a usage
  plan carrying the same throttling as the stage.
- Stage: throttling (rate, burst), JSON access logs, X-Ray tracing, detailed metrics.
  Access logs need the region's API Gateway account setting to name a CloudWatch role: with
  `api_gateway_cloudwatch_role=create` (default) CDK's role and `AWS::ApiGateway::Account` are
  made here, retained on destroy (another API of the account may log through them), and the
  stage waits for them; with `existing` the account's role is used (`vsr doctor` checks it).
  Execution logging stays off (its log groups are created by API Gateway outside the stack and
  never expire); access logs, Lambda logs and traces carry every request.
- WAF: AWS managed common rule set + known bad inputs + a per-IP rate rule.
- Errors the gateway answers itself (bad body, auth, throttling, integration failures) have
  the function's error shape, `{"message": ..., "request_id": ...}`.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from cdk_app.config import AppConfig
from stacks.constructs.nag import MANAGED_POLICY_RULE, acknowledge, acknowledge_resources
from stacks.constructs.router_openapi import (
    BATCH_MODEL_NAME,
    ROUTE_MODEL_NAME,
    as_gateway_model_schema,
    batch_request_schema,
    route_request_schema,
)
from stacks.constructs.runtime_function import retention_days

# WAF rate-based rules count requests per source IP over a 5-minute window.
WAF_WINDOW_SECONDS = 300
# What CDK's cloudWatchRole attaches to the account-level API Gateway logging role.
API_GATEWAY_LOGGING_POLICY = iam.ManagedPolicy.from_aws_managed_policy_name(
    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.user",
    "userArn": "$context.identity.userArn",
    "apiKeyId": "$context.identity.apiKeyId",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "lambdaRequestId": "$context.integration.requestId",
    "errorMessage": "$context.error.message",
    "errorType": "$context.error.responseType",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}

# API Gateway's own errors (403 auth or web ACL, 429 throttling, 5xx integration failures) in the
# router's error shape; `messageString` is the gateway's message already quoted as a JSON string.
GATEWAY_ERROR_TEMPLATE = '{"message": $context.error.messageString, "request_id": "$context.requestId"}'
BAD_REQUEST_BODY_TEMPLATE = (
    '{"message": "invalid request body: POST /route takes {\\"query\\": <string>}, POST /route/batch takes '
    '{\\"queries\\": [<string>, ...]}, no other fields (see docs/openapi.json)", "request_id": "$context.requestId"}'
)


def json_schema(schema: dict[str, Any]) -> apigw.JsonSchema:
    """A JSON Schema dict (draft 4 keywords) as CDK's JsonSchema struct."""
    keys = {
        "title": "title", "description": "description", "required": "required", "enum": "enum",
        "minLength": "min_length", "maxLength": "max_length", "pattern": "pattern",
        "minItems": "min_items", "maxItems": "max_items", "minimum": "minimum", "maximum": "maximum",
    }  # fmt: skip
    kwargs: dict[str, Any] = {cdk_key: schema[key] for key, cdk_key in keys.items() if key in schema}
    if "$schema" in schema:
        kwargs["schema"] = apigw.JsonSchemaVersion.DRAFT4
    if "type" in schema:
        kwargs["type"] = apigw.JsonSchemaType[schema["type"].upper()]
    if "properties" in schema:
        kwargs["properties"] = {name: json_schema(value) for name, value in schema["properties"].items()}
    if "items" in schema:
        kwargs["items"] = json_schema(schema["items"])
    if "additionalProperties" in schema:
        kwargs["additional_properties"] = schema["additionalProperties"]
    return apigw.JsonSchema(**kwargs)


class RouterRestApi(Construct):
    """REST API in front of the router function."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        iam_auth = config.api_auth == "iam"
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY
            if config.removal_policy == "destroy"
            else RemovalPolicy.RETAIN,
        )
        method_options = apigw.MethodOptions(
            authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
            api_key_required=not iam_auth,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.prefix}-router",
            description="Video search router: modality weights for a search query",
            endpoint_configuration=apigw.EndpointConfiguration(types=[apigw.EndpointType.REGIONAL]),
            cloud_watch_role=config.api_gateway_cloudwatch_role == "create",
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN
            if config.api_gateway_cloudwatch_role == "create"
            else None,
            fail_on_warnings=True,
            api_key_source_type=None if iam_auth else apigw.ApiKeySourceType.HEADER,
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                throttling_rate_limit=config.api_throttle_rate,
                throttling_burst_limit=config.api_throttle_burst,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.OFF,
                data_trace_enabled=False,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
        )
        self.stage = self.api.deployment_stage

        integration = apigw.LambdaIntegration(
            function,
            proxy=True,
            allow_test_invoke=False,
            # Longer than the function timeout, cold start included: the degraded answer always arrives.
            timeout=Duration.millis(config.router_integration_timeout_ms),
        )
        self.validator = self.api.add_request_validator(
            "BodyValidator",
            request_validator_name="body",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        self.route_model = self.api.add_model(
            "RouteRequestModel",
            model_name=ROUTE_MODEL_NAME,
            content_type="application/json",
            schema=json_schema(as_gateway_model_schema(route_request_schema(config))),
        )
        self.batch_model = self.api.add_model(
            "RouteBatchRequestModel",
            model_name=BATCH_MODEL_NAME,
            content_type="application/json",
            schema=json_schema(as_gateway_model_schema(batch_request_schema(config))),
        )
        route = self.api.root.add_resource("route")
        batch = route.add_resource("batch")
        route.add_method("POST", integration, request_validator=self.validator,
                         request_models={"application/json": self.route_model})  # fmt: skip
        batch.add_method("POST", integration, request_validator=self.validator,
                         request_models={"application/json": self.batch_model})  # fmt: skip
        # Everything else reaches the function too, which answers 404 / 405 with a JSON message.
        for resource in (self.api.root, route, batch):
            resource.add_method("ANY", integration)
        self.api.root.add_proxy(default_integration=integration, any_method=True)

        self.api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            status_code="400",
            templates={"application/json": BAD_REQUEST_BODY_TEMPLATE},
        )
        for name, response_type in (("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
                                    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX)):  # fmt: skip
            self.api.add_gateway_response(
                name, type=response_type, templates={"application/json": GATEWAY_ERROR_TEMPLATE}
            )

        self.api_key: apigw.IApiKey | None = None
        if not iam_auth:
            self.api_key = apigw.ApiKey(self, "ApiKey", description=f"{config.prefix} router API key")
            plan = apigw.UsagePlan(
                self,
                "UsagePlan",
                name=f"{config.prefix}-router",
                throttle=apigw.ThrottleSettings(
                    rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst
                ),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.stage)],
            )
            plan.add_api_key(self.api_key)

        self.web_acl = self._web_acl(config)
        self._acknowledge(config)

    def _web_acl(self, config: AppConfig) -> wafv2.CfnWebACL:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{config.prefix}-router-{name}",
                sampled_requests_enabled=True,
            )

        def managed(name: str, priority: int, count_only: list[str]) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in count_only
                        ]
                        or None,
                    )
                ),
                visibility_config=visibility(name),
            )

        # One IP may use the whole stage rate, not more: the search engine calls from few addresses.
        per_ip_limit = max(100, config.api_throttle_rate * WAF_WINDOW_SECONDS)
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("acl"),
            rules=[
                # A batch body is up to 25 queries of 1,000 characters: larger than the rule set's 8 KB body
                # limit; the request models and the function bound the body instead.
                managed("AWSManagedRulesCommonRuleSet", 0, count_only=["SizeRestrictions_BODY"]),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 1, count_only=[]),
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=2,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=per_ip_limit,
                            evaluation_window_sec=WAF_WINDOW_SECONDS,
                        )
                    ),
                    visibility_config=visibility("rate-per-ip"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        return acl

    def _acknowledge(self, config: AppConfig) -> None:
        acknowledge(
            self.stage,
            "AwsSolutions-APIG6",
            "Execution logs go to log groups API Gateway creates outside the stack, without expiry. JSON access "
            "logs, X-Ray traces and the router's structured logs record every request.",
        )
        if config.api_gateway_cloudwatch_role == "create":
            acknowledge_resources(
                self.api.node.find_child("CloudWatchRole"),
                "AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the account-level API "
                "Gateway logging role (CDK's own cloudWatchRole); it is scoped by AWS to CloudWatch Logs.",
                [API_GATEWAY_LOGGING_POLICY.managed_policy_arn],
                rule=MANAGED_POLICY_RULE,
                kind="Policy",
            )
        for method in self.api.methods:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "A machine-to-machine API called by the search engine's backend: authorised with IAM (SigV4) "
                "or, by configuration, an API key with a usage plan; there are no end users to sign in.",
            )
            if config.api_auth == "api_key":
                acknowledge(
                    method,
                    "AwsSolutions-APIG4",
                    "api_auth=api_key: callers present an API key bound to a usage plan (throttled); "
                    "chosen for callers that cannot sign requests with SigV4. The default is IAM auth.",
                )
