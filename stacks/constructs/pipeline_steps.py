"""The pipeline's step Lambdas: one construct per step, each owning its function and its grants.

Every step is a RuntimeFunction (arm64, shared layer, own role and log group, tracing) with
the same environment (the run defaults from cdk.json, parsed by
routing.settings.PipelineSettings) and only the permissions its step needs:

| step               | S3 (data bucket)                                  | Bedrock / IAM                              |
|--------------------|---------------------------------------------------|--------------------------------------------|
| Plan               | read/write runs/*/manifest.json (lists the rest)  | GetFoundationModel                         |
| Generate           | read/write runs/*/generated/* (+ object tagging)  | InvokeModel on the configured teacher      |
| PrepareDataset     | read generated, imports; write runs/*/dataset/*   | -                                          |
| StartDistillation  | -                                                 | Create/GetModelCustomizationJob, TagResource; iam:PassRole on the distillation role, to bedrock.amazonaws.com only |
| CheckDistillation  | -                                                 | GetModelCustomizationJob                   |
| CreateDeployment   | -                                                 | Create/GetCustomModelDeployment, TagResource |
| CheckDeployment    | -                                                 | GetCustomModelDeployment                   |

Listing is allowed only under `runs/` and `imports/` (s3:prefix condition). Bedrock job,
custom model and deployment ARNs carry service-generated ids, not our names, so those
actions are scoped to the resource type in this account and region; each such wildcard is
acknowledged for cdk-nag on the role that has it, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct, IValidation

from cdk_app.config import AppConfig
from stacks.constructs.bedrock_models import add_model_statements, model_grant, model_statements
from stacks.constructs.nag import acknowledge
from stacks.constructs.pipeline_definition import STEP_FUNCTIONS
from stacks.constructs.runtime_function import RuntimeFunction, RuntimeLayer

# S3 key patterns of the run layout (routing.pipeline.layout), as IAM resources.
MANIFEST_KEYS = "runs/*/manifest.json"
GENERATED_KEYS = "runs/*/generated/*"
DATASET_KEYS = "runs/*/dataset/*"
IMPORT_KEYS = "imports/*"
LISTABLE_PREFIXES = ["runs/*", "imports/*"]


@dataclass(frozen=True)
class StepResources:
    """What the step constructs share: configuration, layer, data bucket, distillation role, environment."""

    config: AppConfig
    layer: RuntimeLayer
    bucket: s3.IBucket
    distillation_role: iam.IRole
    environment: Mapping[str, str]


class PipelineStep(Construct):
    """One step's Lambda and its grants; subclasses name the step and add their permissions."""

    step: ClassVar[str]
    description: ClassVar[str]
    timeout: ClassVar[Duration] = Duration.seconds(60)
    memory_size: ClassVar[int] = 512

    def __init__(self, scope: Construct, construct_id: str, *, resources: StepResources) -> None:
        super().__init__(scope, construct_id)
        self.resources = resources
        self.runtime = RuntimeFunction(
            self,
            "Function",
            config=resources.config,
            layer=resources.layer,
            folder=STEP_FUNCTIONS[self.step],
            description=f"{resources.config.prefix} pipeline: {self.description}",
            environment=dict(resources.environment),
            timeout=self.timeout,
            memory_size=self.memory_size,
        )
        self.function: lambda_.Function = self.runtime.function
        self.role: iam.Role = self.runtime.role
        self.grant()

    def grant(self) -> None:
        """Add the step's permissions to `self.role`."""

    # ------------------------------------------------------------------ helpers

    def _allow(
        self, sid: str, actions: list[str], resources: list[str], conditions: dict | None = None
    ) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions)
        )

    def _objects(self, *patterns: str) -> list[str]:
        return [self.resources.bucket.arn_for_objects(pattern) for pattern in patterns]

    def _allow_listing(self) -> None:
        self._allow(
            "ListRunsAndImports",
            ["s3:ListBucket"],
            [self.resources.bucket.bucket_arn],
            {"StringLike": {"s3:prefix": LISTABLE_PREFIXES}},
        )

    def _bedrock_arn(self, resource: str, *, account: bool = True) -> str:
        stack = Stack.of(self)
        return f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account if account else ''}:{resource}"

    def _allow_bedrock_type(
        self, sid: str, actions: list[str], resource_types: list[str], *exact: str
    ) -> None:
        """Allow `actions` on every Bedrock resource of `resource_types` in this account and region
        (and on the `exact` ARNs), acknowledging those wildcards: their ARNs carry service-generated ids."""
        wildcards = [self._bedrock_arn(f"{resource_type}/*") for resource_type in resource_types]
        self._allow(sid, actions, [*wildcards, *exact])
        self._acknowledge_wildcards(wildcards, _BEDROCK_IDS_REASON)

    def _acknowledge_objects(self, patterns: list[str], reason: str) -> None:
        self._acknowledge_wildcards(self._objects(*patterns), reason)

    def _acknowledge_wildcards(self, resources: list[str], reason: str) -> None:
        """Acknowledge cdk-nag's IAM5 finding for exactly these resource ARNs on this step's role."""
        self.role.node.add_validation(_AcknowledgeResolved(self.role, resources, reason))


@jsii.implements(IValidation)
class _AcknowledgeResolved:
    """Acknowledges IAM5 findings once references are resolved.

    cdk-nag names a finding by the rendered resource, e.g. `<export name>/runs/*/dataset/*` for
    the storage stack's bucket imported here; export names exist only once synthesis has
    prepared cross-stack references, which is when node validations run.
    """

    def __init__(self, role: iam.Role, resources: list[str], reason: str) -> None:
        self._role, self._resources, self._reason = role, resources, reason

    def validate(self) -> list[str]:
        stack = Stack.of(self._role)
        findings = [f"Resource::{_render(stack.resolve(resource))}" for resource in self._resources]
        acknowledge(self._role, "AwsSolutions-IAM5", self._reason, findings=findings)
        return []


def _render(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it in finding ids."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::ImportValue":
            return _render(argument)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")


_RUN_OBJECTS_REASON = (
    "Object keys carry the run id (runs/<run_id>/...), known only at run time: access is scoped to this "
    "step's files of every run, the narrowest prefix that covers them."
)
_BEDROCK_IDS_REASON = (
    "Bedrock names jobs, custom models and deployments with service-generated ids, not the run-derived "
    "names, so the ARN of the run's resource is unknown before it exists: scoped to the resource type in "
    "this account and region."
)


class PlanStep(PipelineStep):
    step = "Plan"
    description = "validate the input and models, write the run manifest, plan the teacher batches"

    def grant(self) -> None:
        self._allow_listing()
        # Whether the prepared dataset or a brought dataset exists is asked by listing, not reading.
        self._allow("ReadWriteManifest", ["s3:GetObject", "s3:PutObject"], self._objects(MANIFEST_KEYS))
        # Model metadata only (lifecycle, customizations): any foundation model the input may name.
        self._allow(
            "ReadModelLifecycle",
            ["bedrock:GetFoundationModel"],
            [self._bedrock_arn("foundation-model/*", account=False)],
        )
        self._acknowledge_objects([MANIFEST_KEYS], _RUN_OBJECTS_REASON)
        self._acknowledge_wildcards(
            [self._bedrock_arn("foundation-model/*", account=False)],
            "GetFoundationModel returns public model metadata (lifecycle, supported customizations); "
            "Plan checks whichever models the run names before anything is paid for.",
        )


class GenerateStep(PipelineStep):
    step = "Generate"
    description = "one teacher call, one labelled JSONL part"
    # A teacher answer of 25-80 examples takes minutes; botocore reads for up to 240 s, twice.
    timeout = Duration.minutes(10)

    def grant(self) -> None:
        config = self.resources.config
        self._allow_listing()
        self._allow(
            "ReadWriteParts",
            ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"],
            self._objects(GENERATED_KEYS),
        )
        add_model_statements(self.role, model_statements(
            config, "InvokeTeacher", ["bedrock:InvokeModel"], [config.teacher_model_id], account=Stack.of(self).account,
        ))  # fmt: skip
        self._acknowledge_objects([GENERATED_KEYS], _RUN_OBJECTS_REASON)


class PrepareDatasetStep(PipelineStep):
    step = "PrepareDataset"
    description = "merge, de-duplicate and split the examples, write the training file"
    timeout = Duration.minutes(5)
    memory_size = 1024

    def grant(self) -> None:
        self._allow_listing()
        self._allow(
            "ReadExamples", ["s3:GetObject"], self._objects(GENERATED_KEYS, DATASET_KEYS, IMPORT_KEYS)
        )
        self._allow("WriteDataset", ["s3:PutObject"], self._objects(DATASET_KEYS))
        self._acknowledge_objects([GENERATED_KEYS, DATASET_KEYS, IMPORT_KEYS], _RUN_OBJECTS_REASON)


class StartDistillationStep(PipelineStep):
    step = "StartDistillation"
    description = "create (or reuse) the run's model distillation job"

    def grant(self) -> None:
        config = self.resources.config
        self._allow_bedrock_type(
            "DistillationJob",
            [
                "bedrock:CreateModelCustomizationJob",
                "bedrock:GetModelCustomizationJob",
                "bedrock:TagResource",
            ],
            ["model-customization-job", "custom-model"],
            # The base model exactly as the request's baseModelIdentifier names it (with its :128k variant).
            *model_grant(config, config.student_model_id, account=Stack.of(self).account).direct,
        )
        self._allow(
            "PassDistillationRole",
            ["iam:PassRole"],
            [self.resources.distillation_role.role_arn],
            {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        )


class CheckDistillationStep(PipelineStep):
    step = "CheckDistillation"
    description = "poll the run's distillation job"
    timeout = Duration.seconds(30)
    memory_size = 256

    def grant(self) -> None:
        self._allow_bedrock_type(
            "ReadDistillationJob", ["bedrock:GetModelCustomizationJob"], ["model-customization-job"]
        )


class CreateDeploymentStep(PipelineStep):
    step = "CreateDeployment"
    description = "create (or reuse) the on-demand deployment of the distilled model"

    def grant(self) -> None:
        self._allow_bedrock_type(
            "Deployment",
            [
                "bedrock:CreateCustomModelDeployment",
                "bedrock:GetCustomModelDeployment",
                "bedrock:TagResource",
            ],
            ["custom-model", "custom-model-deployment"],
        )


class CheckDeploymentStep(PipelineStep):
    step = "CheckDeployment"
    description = "poll the run's deployment"
    timeout = Duration.seconds(30)
    memory_size = 256

    def grant(self) -> None:
        self._allow_bedrock_type(
            "ReadDeployment", ["bedrock:GetCustomModelDeployment"], ["custom-model-deployment"]
        )


STEP_CLASSES: tuple[type[PipelineStep], ...] = (
    PlanStep,
    GenerateStep,
    PrepareDatasetStep,
    StartDistillationStep,
    CheckDistillationStep,
    CreateDeploymentStep,
    CheckDeploymentStep,
)


class PipelineSteps(Construct):
    """All step constructs of the pipeline, by step name."""

    def __init__(self, scope: Construct, construct_id: str, *, resources: StepResources) -> None:
        super().__init__(scope, construct_id)
        self.steps: dict[str, PipelineStep] = {
            cls.step: cls(self, cls.step, resources=resources) for cls in STEP_CLASSES
        }
