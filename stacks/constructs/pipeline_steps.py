"""The pipeline's step Lambdas: one construct per step, each owning its function and its grants.

Every step is a `PipelineStep`: a RuntimeFunction (arm64, shared layer, own role and log
group, tracing) with its step's environment (`StepResources.environments`, built by
function_environment.py) and only the permissions its step needs, declared in `grant()`.
The distillation steps are here; the evaluation steps (evaluation_steps.py) are written the
same way. `PipelineSteps` builds one group of them; the state machine wires in `functions`.

| step               | S3 (data bucket)                                  | Bedrock / IAM                              |
|--------------------|---------------------------------------------------|--------------------------------------------|
| Plan               | read/write runs/*/manifest.json; read imports/* (the gold set) (lists the rest) | GetFoundationModel |
| Generate           | read/write runs/*/generated/* (+ object tagging)  | InvokeModel on the configured teacher      |
| PrepareDataset     | read generated, imports; write runs/*/dataset/*   | -                                          |
| StartDistillation  | -                                                 | Create/GetModelCustomizationJob, TagResource; iam:PassRole on the distillation role, to bedrock.amazonaws.com only |
| TrainLocalModel    | read runs/*/dataset/train.jsonl; write runs/*/local-model/* | -                                |
| CheckDistillation  | -                                                 | GetModelCustomizationJob                   |
| CreateDeployment   | -                                                 | Create/GetCustomModelDeployment, TagResource |
| CheckDeployment    | -                                                 | GetCustomModelDeployment                   |

Listing is allowed only under `runs/` and `imports/` (s3:prefix condition). Bedrock job,
custom model and deployment ARNs carry service-generated ids, not our names, so those
actions are scoped to the resource type in this account and region; each such wildcard is
acknowledged for cdk-nag on the role that has it, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.config import AppConfig
from stacks.constructs.bedrock_models import add_model_statements, bedrock_arn, model_grant, model_statements
from stacks.constructs.nag import acknowledge_resources
from stacks.constructs.pipeline_definition import STEP_FUNCTIONS
from stacks.constructs.run_objects import (
    DATASET_KEYS,
    GENERATED_KEYS,
    IMPORT_KEYS,
    LISTABLE_PREFIXES,
    LOCAL_MODEL_KEYS,
    MANIFEST_KEYS,
    TRAIN_KEYS,
)
from stacks.constructs.runtime_function import RuntimeFunction, RuntimeLayer


@dataclass(frozen=True)
class StepResources:
    """What the step constructs share: configuration, layer, data bucket, roles, parameter, environments."""

    config: AppConfig
    layer: RuntimeLayer
    bucket: s3.IBucket
    distillation_role: iam.IRole
    evaluation_role: iam.IRole
    active_model_parameter_arn: str
    # Step name -> that step's environment variables (function_environment.py).
    environments: Mapping[str, Mapping[str, str]]


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
            environment=dict(resources.environments[self.step]),
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

    def _allow_listing(
        self, sid: str = "ListRunsAndImports", prefixes: Sequence[str] = LISTABLE_PREFIXES
    ) -> None:
        self._allow(
            sid,
            ["s3:ListBucket"],
            [self.resources.bucket.bucket_arn],
            {"StringLike": {"s3:prefix": list(prefixes)}},
        )

    def _bedrock_arn(self, resource: str, *, account: bool = True) -> str:
        return bedrock_arn(self, resource, account=None if account else "")

    def _allow_bedrock_type(
        self, sid: str, actions: list[str], resource_types: list[str], *exact: str
    ) -> None:
        """Allow `actions` on every Bedrock resource of `resource_types` in this account and region
        (and on the `exact` ARNs), acknowledging those wildcards: their ARNs carry service-generated ids."""
        wildcards = [self._bedrock_arn(f"{resource_type}/*") for resource_type in resource_types]
        self._allow(sid, actions, [*wildcards, *exact])
        self._acknowledge_wildcards(wildcards, _BEDROCK_IDS_REASON)

    def _acknowledge_objects(self, *patterns: str) -> None:
        """Acknowledge IAM5 for these object patterns of every run (the run id is known only at run time)."""
        self._acknowledge_wildcards(self._objects(*patterns), _RUN_OBJECTS_REASON)

    def _acknowledge_wildcards(self, resources: Sequence[str], reason: str) -> None:
        """Acknowledge cdk-nag's IAM5 finding for exactly these granted resources on this step's role."""
        acknowledge_resources(self.role, reason, resources)


_RUN_OBJECTS_REASON = (
    "Object keys carry the run id (runs/<run_id>/...), known only at run time: access is scoped to this "
    "step's files of every run (imports/ for brought datasets and gold sets), the narrowest prefixes that cover them."
)
_BEDROCK_IDS_REASON = (
    "Bedrock names jobs (customization, evaluation), custom models and deployments with service-generated "
    "ids, not the run-derived names, so the ARN of the run's resource is unknown before it exists: scoped "
    "to the resource type in this account and region."
)


class PlanStep(PipelineStep):
    step = "Plan"
    description = "validate the input and models, write the run manifest, plan the teacher batches"

    def grant(self) -> None:
        self._allow_listing()
        # Whether the prepared dataset or a brought dataset exists is asked by listing, not reading.
        self._allow("ReadWriteManifest", ["s3:GetObject", "s3:PutObject"], self._objects(MANIFEST_KEYS))
        # A gold set is read and checked before anything is paid for (routing.gold): read only.
        self._allow("ReadGoldSet", ["s3:GetObject"], self._objects(IMPORT_KEYS))
        # Model metadata only (lifecycle, customizations): any foundation model the input may name.
        self._allow(
            "ReadModelLifecycle",
            ["bedrock:GetFoundationModel"],
            [self._bedrock_arn("foundation-model/*", account=False)],
        )
        self._acknowledge_objects(MANIFEST_KEYS, IMPORT_KEYS)
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
        add_model_statements(
            self.role,
            model_statements(self, "InvokeTeacher", ["bedrock:InvokeModel"], [config.teacher_model_id]),
        )
        self._acknowledge_objects(GENERATED_KEYS)


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
        self._acknowledge_objects(GENERATED_KEYS, DATASET_KEYS, IMPORT_KEYS)


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
            *model_grant(self, config.student_model_id).direct,
        )
        self._allow(
            "PassDistillationRole",
            ["iam:PassRole"],
            [self.resources.distillation_role.role_arn],
            {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        )


class TrainLocalModelStep(PipelineStep):
    step = "TrainLocalModel"
    description = "train the run's tier-0 local model while the distillation job runs"
    # Measured with the offline data: 10,000 training records train in about 2 s (300 epochs) on two
    # shared cores. Lambda: "At 1,769 MB, a function has the equivalent of one vCPU" (Configuring Lambda
    # function memory); numpy's vectorised loop runs on one core, so more memory would not help.
    timeout = Duration.minutes(5)
    memory_size = 1769

    def grant(self) -> None:
        # A missing object reads as AccessDenied without listing: the listing tells it apart (routing.storage).
        self._allow_listing()
        self._allow("ReadTrainingFile", ["s3:GetObject"], self._objects(TRAIN_KEYS))
        self._allow("WriteLocalModel", ["s3:PutObject"], self._objects(LOCAL_MODEL_KEYS))
        self._acknowledge_objects(TRAIN_KEYS, LOCAL_MODEL_KEYS)


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


DISTILLATION_STEPS: tuple[type[PipelineStep], ...] = (
    PlanStep,
    GenerateStep,
    PrepareDatasetStep,
    StartDistillationStep,
    TrainLocalModelStep,
    CheckDistillationStep,
    CreateDeploymentStep,
    CheckDeploymentStep,
)


class PipelineSteps(Construct):
    """One group of step constructs (each `steps` class once), by step name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resources: StepResources,
        steps: Sequence[type[PipelineStep]],
    ) -> None:
        super().__init__(scope, construct_id)
        self.steps: dict[str, PipelineStep] = {
            cls.step: cls(self, cls.step, resources=resources) for cls in steps
        }

    @property
    def functions(self) -> dict[str, lambda_.IFunction]:
        """Step name -> its Lambda, as the state machine's `${<Step>FunctionArn}` substitutions name them."""
        return {name: step.function for name, step in self.steps.items()}
