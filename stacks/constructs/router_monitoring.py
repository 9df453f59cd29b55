"""Dashboard and alarms of the router API, and the topic the alarms notify.

The router publishes EMF metrics through Powertools (namespace `<project>/<stage>`,
dimension `service=<prefix>-router`); `ROUTER_METRICS` lists the names read here and a
test checks the handler emits exactly these names (the shared decision cache's have their
own widget when it is enabled). Alarms:

- 5xx: any server error of the stage in 5 minutes (the router answers every query, so a
  5xx is a bug, a Lambda failure or an integration timeout);
- p99 latency: the stage's p99 above the router's deadline for 15 minutes;
- fallback rate: more than `FALLBACK_RATE_PERCENT` % of routed queries answered by the
  fallback model, tier-0 after a model failure, or the heuristic, 2 of 3 five-minute periods;
- refused active model: the active-model parameter names a model this router may not
  serve (it serves the default instead), any time in 5 minutes.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk_app.config import AppConfig

ROUTER_METRICS = (
    "RoutedQueries", "RouteLatency", "ModelLatency", "CacheHits", "CacheMisses", "Fallbacks",
    "HeuristicAnswers", "ParseFailures", "ModelErrors", "ModelThrottles", "ActiveModelReadErrors", "ActiveModelRefused",
    "RejectedRequests", "InternalErrors",
    "SharedCacheHits", "SharedCacheMisses", "SharedCacheTimeouts",
    "SharedCacheErrors", "SharedCacheSkipped", "SharedCacheDroppedWrites",
    "ActiveLatency", "CandidateRequests", "CandidateFallbacks", "CandidateParseFailures", "CandidateLatency",
    "ShadowComparisons", "ShadowDisagreements", "ShadowWeightDifference",
    "LocalAnswers", "LocalFallbacks", "LocalModelLoadErrors",
)  # fmt: skip
SHARED_CACHE_METRICS = (
    "SharedCacheHits", "SharedCacheMisses", "SharedCacheTimeouts", "SharedCacheErrors", "SharedCacheSkipped",
    "SharedCacheDroppedWrites",
)  # fmt: skip
FALLBACK_RATE_PERCENT = 5
PERIOD = Duration.minutes(5)


class RouterMonitoring(Construct):
    """CloudWatch dashboard, four alarms, and an encrypted SNS topic for them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        api: apigw.RestApi,
        stage: apigw.Stage,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = f"{config.project_name}/{config.stage}"
        self.service = f"{config.prefix}-router"
        prefix = f"{config.prefix}-router"

        # CloudWatch must be able to use the key to publish to the encrypted topic.
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True, description=f"{prefix} alarm topic")
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarms",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
        ))  # fmt: skip
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=f"{prefix} alarms", master_key=key, enforce_ssl=True
        )
        if config.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.notification_email))

        server_errors = stage.metric_server_error(period=PERIOD, statistic="Sum")
        p99 = stage.metric_latency(period=PERIOD, statistic="p99")
        routed = self.metric("RoutedQueries")
        fallbacks = self.metric("Fallbacks")
        fallback_rate = cw.MathExpression(
            expression="IF(routed > 0, 100 * fallbacks / routed, 0)",
            using_metrics={"routed": routed, "fallbacks": fallbacks},
            period=PERIOD,
            label="Fallback rate (%)",
        )

        self.server_error_alarm = cw.Alarm(
            self,
            "ServerErrors",
            alarm_name=f"{prefix}-5xx",
            alarm_description="The router API returned 5xx responses (the router should answer every query).",
            metric=server_errors,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.latency_alarm = cw.Alarm(
            self,
            "P99Latency",
            alarm_name=f"{prefix}-p99-latency",
            alarm_description=f"p99 latency of the router API above the router deadline ({config.router_deadline_ms} ms).",
            metric=p99,
            threshold=config.router_deadline_ms,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.fallback_alarm = cw.Alarm(
            self,
            "FallbackRate",
            alarm_name=f"{prefix}-fallback-rate",
            alarm_description=(
                f"More than {FALLBACK_RATE_PERCENT} % of queries answered by the fallback model, tier-0 after a "
                "model failure, or the heuristic: "
                "the active model is failing, throttled or answering unparseable text."
            ),
            metric=fallback_rate,
            threshold=FALLBACK_RATE_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.refused_model_alarm = cw.Alarm(
            self,
            "ActiveModelRefused",
            alarm_name=f"{prefix}-active-model-refused",
            alarm_description=(
                "The active-model parameter names a model this router may not serve (not configured, not a "
                "deployment of this account and region): the router serves the default. Check who wrote it "
                "(CloudTrail PutParameter) and roll back."
            ),
            metric=self.metric("ActiveModelRefused"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = [
            self.server_error_alarm,
            self.latency_alarm,
            self.fallback_alarm,
            self.refused_model_alarm,
        ]
        for alarm in self.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
            alarm.add_ok_action(cw_actions.SnsAction(self.topic))

        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=prefix, default_interval=Duration.hours(3)
        )
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Requests and errors (API)",
                width=8,
                left=[
                    stage.metric_count(period=PERIOD, statistic="Sum"),
                    stage.metric_client_error(period=PERIOD, statistic="Sum"),
                    server_errors,
                ],
            ),
            cw.GraphWidget(
                title="API latency (ms)",
                width=8,
                left=[
                    stage.metric_latency(period=PERIOD, statistic="p50"),
                    p99,
                    stage.metric_integration_latency(period=PERIOD, statistic="p99"),
                ],
            ),
            cw.GraphWidget(
                title="Router latency per query (ms)",
                width=8,
                left=[
                    self.metric("RouteLatency", "p50"),
                    self.metric("RouteLatency", "p99"),
                    self.metric("ModelLatency", "p50"),
                    self.metric("ModelLatency", "p99"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Where answers came from",
                width=8,
                left=[
                    routed,
                    fallbacks,
                    self.metric("HeuristicAnswers"),
                    self.metric("CacheHits"),
                    self.metric("LocalAnswers"),
                    self.metric("LocalFallbacks"),
                ],
                right=[fallback_rate],
            ),
            cw.GraphWidget(
                title="Model failures",
                width=8,
                left=[
                    self.metric("ModelErrors"),
                    self.metric("ModelThrottles"),
                    self.metric("ParseFailures"),
                    self.metric("LocalModelLoadErrors"),
                    self.metric("ActiveModelReadErrors"),
                    self.metric("ActiveModelRefused"),
                    self.metric("RejectedRequests"),
                ],
            ),
            cw.GraphWidget(
                title="Router function",
                width=8,
                left=[
                    function.metric_invocations(period=PERIOD),
                    function.metric_errors(period=PERIOD),
                    function.metric_throttles(period=PERIOD),
                    self.metric("InternalErrors"),
                ],
                right=[function.metric_duration(period=PERIOD, statistic="p99")],
            ),
        )

        if config.router_shared_cache.enabled:
            self.dashboard.add_widgets(
                cw.GraphWidget(
                    title="Shared decision cache (DynamoDB)",
                    width=12,
                    left=[self.metric(name) for name in SHARED_CACHE_METRICS],
                ),
            )

    def metric(self, name: str, statistic: str = "Sum") -> cw.Metric:
        """One of the router's EMF metrics (`ROUTER_METRICS`)."""
        if name not in ROUTER_METRICS:
            raise ValueError(f"{name} is not a metric the router emits")
        return cw.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": self.service},
            statistic=statistic,
            period=PERIOD,
            label=f"{name} {statistic}" if statistic != "Sum" else name,
        )
