"""Run notifications: an encrypted, TLS-only SNS topic for run outcomes, and an alarm on failed executions.

The pipeline's NotifyFailure state publishes each failed run (step, error, cause) here;
the alarm covers what cannot publish itself (an execution timed out, aborted or failed
outside a Catch). Every change of the active-model parameter (a promotion, a rollback, or
anyone else's PutParameter/DeleteParameter) is published here too, from Parameter Store's
change events. Optional email subscription from `notification_email`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.config import AppConfig


class RunNotifications(Construct):
    """The run outcome topic (KMS-encrypted, TLS only) and its alarm."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.prefix} pipeline run notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY
            if config.removal_policy == "destroy"
            else RemovalPolicy.RETAIN,
        )
        # CloudWatch alarm actions publish to the encrypted topic as the CloudWatch service.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{config.prefix} distillation runs",
            master_key=self.key,
            enforce_ssl=True,
        )
        if config.notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.notification_email))

    def alarm_on(self, state_machine: sfn.IStateMachine) -> cloudwatch.Alarm:
        """Alarm (-> this topic) when an execution fails, times out or is aborted."""
        period = Duration.minutes(5)
        expression = cloudwatch.MathExpression(
            expression="FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)",
            using_metrics={
                "failed": state_machine.metric_failed(period=period, statistic="Sum"),
                "timedOut": state_machine.metric_timed_out(period=period, statistic="Sum"),
                "aborted": state_machine.metric_aborted(period=period, statistic="Sum"),
            },
            label="Executions failed, timed out or aborted",
            period=period,
        )
        alarm = cloudwatch.Alarm(
            self,
            "ExecutionsFailedAlarm",
            alarm_description=f"{self.config.prefix}: a distillation run failed, timed out or was aborted",
            metric=expression,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        return alarm

    def notify_on_parameter_change(self, parameter_name: str) -> events.Rule:
        """Publish every Parameter Store change event of `parameter_name` (create, update, delete, label)."""
        # CDK's SnsTopic target grants events.amazonaws.com sns:Publish and the topic's KMS key.
        rule = events.Rule(
            self,
            "ActiveModelChanged",
            description=f"Every change of {parameter_name}: the model the router serves",
            event_pattern=events.EventPattern(
                source=["aws.ssm"],
                detail_type=["Parameter Store Change"],
                detail={"name": [parameter_name]},
            ),
        )
        detail = events.EventField.from_path
        rule.add_target(targets.SnsTopic(self.topic, message=events.RuleTargetInput.from_text(
            f"The active model parameter {detail('$.detail.name')} changed ({detail('$.detail.operation')}) at "
            f"{detail('$.time')} in {detail('$.region')}. Who changed it: CloudTrail, event PutParameter or "
            f"DeleteParameter on this name. Current value: aws ssm get-parameter --name {parameter_name}; "
            "undo: vsr rollback."
        )))  # fmt: skip
        return rule
