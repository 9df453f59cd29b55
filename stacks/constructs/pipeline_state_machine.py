"""The pipeline's state machine: statemachine/pipeline.asl.json with the stack's ARNs substituted.

Standard workflow; the execution timeout from `execution_timeout_hours`; logging of every
event (level ALL, for cdk-nag SF1) but without execution data, so prompts, datasets and
model answers never reach CloudWatch Logs; X-Ray tracing. The definition file is loaded
as text; its `${...}` placeholders become DefinitionSubstitutions, and its service
integration ARNs (`arn:aws:states:::lambda:invoke`, as the local harness runs them) take the
stack's partition (`AWS::Partition`). Permissions are given explicitly: invoke each step's function, publish to
the notifications topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Aws, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.config import AppConfig
from stacks.constructs.nag import WILDCARD_RULE, acknowledge, acknowledge_resources
from stacks.constructs.pipeline_definition import (
    PREFIX_SUBSTITUTION,
    TOPIC_SUBSTITUTION,
    iter_states,
    load_definition,
)
from stacks.constructs.runtime_function import retention_days


def definition_text(execution_timeout_hours: int) -> str:
    """The definition template with the execution timeout set and the stack's partition in its ARNs.

    TimeoutSeconds must be a JSON number, so it cannot be a `${...}` text substitution, and the
    StateMachine's `timeout` prop only applies to definitions built with CDK's state classes.
    A Task's service integration ARN (`arn:<partition>:states:::<service>:<action>`) names the
    partition the state machine runs in: the file's `aws` (the local harness's) becomes the stack's.
    """
    definition = json.loads(load_definition())
    definition["TimeoutSeconds"] = execution_timeout_hours * 3600
    for _name, state, _parent in iter_states(definition):
        scheme, _partition, rest = state.get("Resource", "::").split(":", 2)
        if scheme == "arn" and rest.startswith("states:::"):
            state["Resource"] = f"arn:{Aws.PARTITION}:{rest}"
    return json.dumps(definition, indent=2)


class PipelineStateMachine(Construct):
    """The distillation pipeline's Step Functions state machine."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        functions: Mapping[str, lambda_.IFunction],
        function_substitutions: Mapping[str, str],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # The /aws/vendedlogs/ prefix keeps the log group's resource policy small (AWS guidance). The
            # group is retained on destroy, so its name ends with this stack's id: a fixed name would make
            # the next deploy after a destroy fail on the group left behind.
            log_group_name=f"/aws/vendedlogs/states/{config.prefix}-pipeline-{stack_unique_suffix(self)}",
            retention=retention_days(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY
            if config.removal_policy == "destroy"
            else RemovalPolicy.RETAIN,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.prefix}-pipeline",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition_text(config.execution_timeout_hours)),
            definition_substitutions={
                **function_substitutions,
                TOPIC_SUBSTITUTION: topic.topic_arn,
                PREFIX_SUBSTITUTION: config.prefix,
            },
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            tracing_enabled=True,
        )
        role = self.state_machine.role
        for function in functions.values():
            function.grant_invoke(role)
        topic.grant_publish(role)
        reason = (
            "Step Functions needs these on '*': CloudWatch Logs delivery (logs:*LogDelivery, "
            "PutResourcePolicy, Describe*) and X-Ray (PutTraceSegments...) support no resource-level "
            "permissions; lambda:InvokeFunction on '<function ARN>:*' covers the step functions' versions; "
            "kms:GenerateDataKey* (on the topic's key only) is what publishing to an encrypted topic needs."
        )
        acknowledge_resources(role, reason, ["*", *(f"{fn.function_arn}:*" for fn in functions.values())])
        acknowledge(role, WILDCARD_RULE, reason, findings=["Action::kms:GenerateDataKey*"])

    @property
    def role(self) -> iam.IRole:
        return self.state_machine.role


def stack_unique_suffix(scope: Construct) -> str:
    """The UUID part of the stack id (`arn:...:stack/<name>/<uuid>`): new on every stack creation."""
    return Fn.select(2, Fn.split("/", Aws.STACK_ID))
