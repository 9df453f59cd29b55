"""Pipeline stack: the step Lambdas, the state machine of a distillation run, run notifications.

One Step Functions execution is one run (the execution name is the run id): Plan ->
Generate (Map) -> PrepareDataset -> StartDistillation -> wait/check -> CreateDeployment ->
wait/check -> Evaluate -> LLM judge (optional) -> Report -> gate -> Promote or not -> notify.
Data and the Bedrock roles live in the storage stack; this stack can be redeployed freely.
Outputs are a public contract (README, operator CLI).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from cdk_app.config import AppConfig
from cdk_app.stack_outputs import OUTPUT_STATE_MACHINE, OUTPUT_TOPIC
from stacks.constructs.evaluation_steps import EVALUATION_STEPS
from stacks.constructs.function_environment import (
    evaluation_environments,
    pipeline_environment,
    train_local_model_environment,
)
from stacks.constructs.pipeline_definition import DISTILLATION_FUNCTIONS, function_substitution
from stacks.constructs.pipeline_state_machine import PipelineStateMachine
from stacks.constructs.pipeline_steps import DISTILLATION_STEPS, PipelineSteps, StepResources
from stacks.constructs.run_notifications import RunNotifications
from stacks.constructs.runtime_function import RuntimeLayer
from stacks.storage_stack import StorageStack


class PipelineStack(Stack):
    """Step Lambdas (distillation and evaluation), state machine, notifications topic and failure alarm."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, storage: StorageStack, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        layer = RuntimeLayer(self, "RuntimeLayer")
        self.notifications = RunNotifications(self, "Notifications", config=config)
        distillation_environment = pipeline_environment(
            config,
            bucket_name=storage.bucket.bucket_name,
            distillation_role_arn=storage.distillation_role.role_arn,
        )
        resources = StepResources(
            config=config,
            layer=layer,
            bucket=storage.bucket,
            distillation_role=storage.distillation_role,
            evaluation_role=storage.evaluation_role,
            active_model_parameter_arn=storage.active_model_parameter_arn,
            environments={
                **{step: distillation_environment for step in DISTILLATION_FUNCTIONS},
                "TrainLocalModel": train_local_model_environment(config),
                **evaluation_environments(config, evaluation_role_arn=storage.evaluation_role.role_arn),
            },
        )
        self.steps = PipelineSteps(self, "Steps", resources=resources, steps=DISTILLATION_STEPS)
        self.evaluation = PipelineSteps(self, "Evaluation", resources=resources, steps=EVALUATION_STEPS)
        functions = {**self.steps.functions, **self.evaluation.functions}
        self.pipeline = PipelineStateMachine(
            self,
            "Pipeline",
            config=config,
            functions=functions,
            function_substitutions={
                function_substitution(name): fn.function_arn for name, fn in functions.items()
            },
            topic=self.notifications.topic,
        )
        self.state_machine = self.pipeline.state_machine
        self.alarm = self.notifications.alarm_on(self.state_machine)
        self.parameter_change = self.notifications.notify_on_parameter_change(
            config.active_model_parameter_name
        )

        CfnOutput(self, OUTPUT_STATE_MACHINE, value=self.state_machine.state_machine_arn,
                  description="Start a distillation run: aws stepfunctions start-execution --state-machine-arn <this>")  # fmt: skip
        CfnOutput(self, OUTPUT_TOPIC, value=self.notifications.topic.topic_arn,
                  description="SNS topic of run outcomes (failures with step and cause)")  # fmt: skip
