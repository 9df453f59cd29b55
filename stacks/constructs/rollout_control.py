"""Rollout control: the rollout alarms, their dashboard section, and the controller that acts on them.

The router reports a candidate's behaviour on live traffic (`ROLLOUT_METRICS`, emitted with its
other EMF metrics: same namespace, dimension `service`). Four alarms read them, each a rate per
5-minute period computed only when the candidate was asked at least `rollout.min_candidate_requests`
times in it (fewer: no data, and missing data is not breaching, so a quiet hour or no rollout never
alarms):

- candidate fallback rate: `100 * CandidateFallbacks / CandidateRequests` above
  `rollout.max_candidate_fallback_percent`;
- candidate parse failures: `100 * CandidateParseFailures / CandidateRequests` above
  `rollout.max_candidate_parse_failure_percent`;
- candidate latency: p95 `CandidateLatency` over p95 `ActiveLatency` above `rollout.max_latency_ratio`;
- shadow disagreement: `100 * ShadowDisagreements / ShadowComparisons` above
  `rollout.max_shadow_disagreement_percent`.

The controller (lambdas/rollout_control) runs on an EventBridge rule that matches exactly these
alarms entering ALARM (it aborts the rollout) and on a 5-minute schedule (it finishes a rollout whose
`auto_finish_after` is reached). Its grants: ssm:GetParameter/PutParameter on the active-model
parameter, cloudwatch:DescribeAlarms on the rollout alarms, cloudwatch:GetMetricStatistics (no
resource-level permissions), sns:Publish on the router's alarm topic and its KMS key.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct
from routing.settings import ROLLOUT_ALARM_PERIOD_SECONDS

from cdk_app.config import AppConfig
from stacks.constructs.function_environment import rollout_control_environment
from stacks.constructs.nag import acknowledge_resources
from stacks.constructs.runtime_function import RuntimeFunction, RuntimeLayer

# The router's rollout metrics (docs/rollout.md); the router emits them with ROUTER_METRICS.
ROLLOUT_METRICS = (
    "CandidateRequests", "CandidateFallbacks", "CandidateParseFailures", "CandidateLatency", "ActiveLatency",
    "ShadowComparisons", "ShadowDisagreements", "ShadowWeightDifference",
)  # fmt: skip
PERIOD = Duration.seconds(ROLLOUT_ALARM_PERIOD_SECONDS)
SCHEDULE = Duration.minutes(5)


class RolloutControl(Construct):
    """The rollout alarms (-> the router's alarm topic), a "Rollout" dashboard section, the controller."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        layer: RuntimeLayer,
        topic: sns.Topic,
        dashboard: cw.Dashboard,
        parameter_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        thresholds = config.rollout
        names = config.rollout_alarm_names
        requests = self.metric("CandidateRequests")
        least = thresholds.min_candidate_requests

        def rate(part: str, total: str, label: str) -> cw.MathExpression:
            # No value when the candidate was asked too rarely in the period: missing data, not breaching.
            # Query ids are the metric names in lower case (one graph may show several rates).
            p, t = part.lower(), total.lower()
            return cw.MathExpression(
                expression=f"IF({t} >= {least}, 100 * FILL({p}, 0) / {t})",
                using_metrics={t: self.metric(total), p: self.metric(part)},
                period=PERIOD,
                label=label,
            )

        self.fallback_rate = rate("CandidateFallbacks", "CandidateRequests", "Candidate fallback rate (%)")
        self.parse_failure_rate = rate(
            "CandidateParseFailures", "CandidateRequests", "Candidate parse failures (%)"
        )
        self.disagreement_rate = rate("ShadowDisagreements", "ShadowComparisons", "Shadow disagreement (%)")
        self.latency_ratio = cw.MathExpression(
            expression=f"IF(candidaterequests >= {least} AND active > 0, candidate / active)",
            using_metrics={
                "candidaterequests": requests,
                "candidate": self.metric("CandidateLatency", "p95"),
                "active": self.metric("ActiveLatency", "p95"),
            },
            period=PERIOD,
            label="Candidate p95 / active p95 latency",
        )
        watched = {
            "candidate-fallback-rate": (
                self.fallback_rate, thresholds.max_candidate_fallback_percent,
                "% of the candidate's queries got no usable answer from it (error, throttle, timeout, parse "
                "failure, late in shadow)",
            ),
            "candidate-parse-failures": (
                self.parse_failure_rate, thresholds.max_candidate_parse_failure_percent,
                "% of the candidate's answers could not be parsed",
            ),
            "candidate-latency": (
                self.latency_ratio, thresholds.max_latency_ratio,
                "x: the candidate's p95 model latency over the active model's p95",
            ),
            "shadow-disagreement": (
                self.disagreement_rate, thresholds.max_shadow_disagreement_percent,
                "% of shadow comparisons chose another dominant modality than the served answer",
            ),
        }  # fmt: skip
        self.alarms: list[cw.Alarm] = []
        for key, (metric, threshold, what) in watched.items():
            alarm = cw.Alarm(
                self,
                "".join(part.title() for part in key.split("-")),
                alarm_name=names[key],
                alarm_description=(
                    f"Rollout: above {threshold:g} {what}. The rollout controller aborts the rollout "
                    "(vsr rollout --history says who did what)."
                ),
                metric=metric,
                threshold=threshold,
                evaluation_periods=thresholds.evaluation_periods,
                datapoints_to_alarm=thresholds.datapoints_to_alarm,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            self.alarms.append(alarm)

        self.runtime = RuntimeFunction(
            self,
            "Controller",
            config=config,
            layer=layer,
            folder="rollout_control",
            description="Aborts a rollout on its alarms; finishes it when auto_finish_after is reached",
            environment=rollout_control_environment(config, topic_arn=topic.topic_arn),
            timeout=Duration.seconds(30),
            memory_size=256,
        )
        self.function: lambda_.Function = self.runtime.function
        role = self.runtime.role
        role.add_to_policy(iam.PolicyStatement(
            sid="WriteActiveModel", actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[parameter_arn],
        ))  # fmt: skip
        alarm_arns = [
            Stack.of(self).format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in names.values()
        ]
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadRolloutAlarms", actions=["cloudwatch:DescribeAlarms"], resources=alarm_arns,
        ))  # fmt: skip
        # GetMetricStatistics supports no resource-level permissions (Service Authorization Reference,
        # Amazon CloudWatch: no resource type), so its resource is "*".
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadRouterMetrics", actions=["cloudwatch:GetMetricStatistics"], resources=["*"],
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="NotifyRollout", actions=["sns:Publish"], resources=[topic.topic_arn],
        ))  # fmt: skip
        # Publishing to a KMS-encrypted topic needs kms:GenerateDataKey and kms:Decrypt on its key.
        if topic.master_key is None:
            raise ValueError("the rollout topic must be the router's encrypted alarm topic")
        role.add_to_policy(iam.PolicyStatement(
            sid="EncryptRolloutNotices", actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[topic.master_key.key_arn],
        ))  # fmt: skip
        acknowledge_resources(
            role,
            "CloudWatch GetMetricStatistics supports no resource-level permissions: the controller reads "
            "the router's CandidateRequests with it.",
            ["*"],
        )

        # CloudWatch's alarm state change events (CloudWatch user guide, "Alarm events and EventBridge"):
        # source aws.cloudwatch, detail-type "CloudWatch Alarm State Change", detail.alarmName, and
        # detail.state.value the new state.
        self.alarm_rule = events.Rule(
            self,
            "RolloutAlarmFired",
            description="A rollout alarm entered ALARM: the rollout controller aborts the rollout",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": list(names.values()), "state": {"value": ["ALARM"]}},
            ),
        )
        self.alarm_rule.add_target(targets.LambdaFunction(self.function, retry_attempts=2))
        self.schedule_rule_name = f"{config.prefix}-rollout-schedule"
        self.schedule = events.Rule(
            self,
            "Schedule",
            rule_name=self.schedule_rule_name,
            description="Every 5 minutes: the rollout controller finishes a rollout whose auto_finish_after is reached",
            schedule=events.Schedule.rate(SCHEDULE),
        )
        self.schedule.add_target(targets.LambdaFunction(self.function, retry_attempts=0))

        dashboard.add_widgets(cw.TextWidget(
            markdown="## Rollout\nA candidate on live traffic (shadow or canary): `vsr rollout` for its figures; "
            "any alarm below in ALARM aborts it.",
            width=24, height=2,
        ))  # fmt: skip
        dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Rollout alarms", alarms=self.alarms, width=24, height=3)
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Candidate queries and failures",
                width=8,
                left=[requests, self.metric("CandidateFallbacks"), self.metric("CandidateParseFailures")],
                right=[self.fallback_rate, self.parse_failure_rate],
            ),
            cw.GraphWidget(
                title="Model latency p95 (ms): active vs candidate",
                width=8,
                left=[self.metric("ActiveLatency", "p95"), self.metric("CandidateLatency", "p95")],
                right=[self.latency_ratio],
            ),
            cw.GraphWidget(
                title="Shadow agreement",
                width=8,
                left=[self.metric("ShadowComparisons"), self.metric("ShadowDisagreements")],
                right=[self.disagreement_rate, self.metric("ShadowWeightDifference", "Average")],
            ),
        )

    def metric(self, name: str, statistic: str = "Sum") -> cw.Metric:
        """One of the router's rollout metrics (`ROLLOUT_METRICS`)."""
        if name not in ROLLOUT_METRICS:
            raise ValueError(f"{name} is not a rollout metric the router emits")
        return cw.Metric(
            namespace=self.config.router_metrics_namespace,
            metric_name=name,
            dimensions_map={"service": self.config.router_metrics_service},
            statistic=statistic,
            period=PERIOD,
            label=f"{name} {statistic}" if statistic != "Sum" else name,
        )
