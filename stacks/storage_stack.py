"""Storage stack: the data bucket, the roles Amazon Bedrock assumes, the active-model parameter's name.

Everything with state lives here, so the pipeline and the API can be redeployed or
destroyed without touching data. Outputs are a public contract (README, operator CLI).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from routing.layout import INVOCATION_LOGS_PREFIX, SCRATCH_TAG

from cdk_app.config import AppConfig
from cdk_app.stack_outputs import (
    OUTPUT_ACTIVE_MODEL_PARAMETER,
    OUTPUT_BUCKET,
    OUTPUT_DISTILLATION_ROLE,
    OUTPUT_EVALUATION_ROLE,
)
from stacks.constructs.bedrock_models import add_model_statements, bedrock_arn, model_statements
from stacks.constructs.nag import acknowledge, acknowledge_resources
from stacks.constructs.run_objects import (
    DATASET_KEYS,
    DISTILLATION_OUTPUT_KEYS,
    INVOCATION_LOG_KEYS,
    JUDGE_INPUT_KEYS,
    JUDGE_OUTPUT_KEYS,
    RUN_KEYS,
)


def active_model_parameter_arn(stack: Stack, config: AppConfig) -> str:
    """The ARN of the active-model parameter, from its configured name (no stack owns the parameter)."""
    return stack.format_arn(
        service="ssm", resource="parameter", resource_name=config.active_model_parameter_name.lstrip("/")
    )


class StorageStack(Stack):
    """Data bucket (+ access-log bucket), distillation and evaluation roles, active-model parameter name."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        destroy = config.removal_policy == "destroy"
        removal = RemovalPolicy.DESTROY if destroy else RemovalPolicy.RETAIN

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=destroy,
        )
        acknowledge(self.access_log_bucket, "AwsSolutions-S1",
                    "This is the server access log bucket; logging it to itself would loop.")  # fmt: skip

        self.bucket = s3.Bucket(
            self,
            "DataBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="data-bucket/",
            lifecycle_rules=[
                # Objects tagged so are intermediate results (generation parts...).
                s3.LifecycleRule(
                    id="expire-scratch-objects",
                    tag_filters={SCRATCH_TAG[0]: SCRATCH_TAG[1]},
                    expiration=Duration.days(config.scratch_expiry_days),
                ),
                # Raw user queries (where Bedrock's model invocation logging delivers, set in the Bedrock console
                # or with PutModelInvocationLoggingConfiguration): expire them, and their noncurrent versions a
                # day later (not 90).
                s3.LifecycleRule(
                    id="expire-invocation-logs",
                    prefix=INVOCATION_LOGS_PREFIX,
                    expiration=Duration.days(config.invocation_log_expiry_days),
                    noncurrent_version_expiration=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(90),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=removal,
            auto_delete_objects=destroy,
        )

        self._allow_invocation_log_delivery()
        self.distillation_role = self._distillation_role()
        self.evaluation_role = self._evaluation_role()

        # The active-model parameter is deliberately NOT a CloudFormation resource: CloudFormation
        # rewrites a parameter it manages from the template on a tag or description change
        # (aws-cdk#25949), which would reset the promoted model and drop `previous`. Promotion
        # creates it (PutParameter with Overwrite) and owns its value; until then the router and
        # promotion read "missing" as "use the configured default". Grants name it by its ARN.
        self.active_model_parameter_name = config.active_model_parameter_name
        self.active_model_parameter_arn = active_model_parameter_arn(self, config)

        CfnOutput(self, OUTPUT_BUCKET, value=self.bucket.bucket_name, description="Data bucket of all runs")
        CfnOutput(self, OUTPUT_DISTILLATION_ROLE, value=self.distillation_role.role_arn,
                  description="Role Bedrock assumes for distillation jobs")  # fmt: skip
        CfnOutput(self, OUTPUT_EVALUATION_ROLE, value=self.evaluation_role.role_arn,
                  description="Role Bedrock assumes for evaluation jobs")  # fmt: skip
        CfnOutput(self, OUTPUT_ACTIVE_MODEL_PARAMETER, value=self.active_model_parameter_name,
                  description="SSM parameter holding the model the router serves")  # fmt: skip

    def _bedrock_principal(self, resource_type: str) -> iam.PrincipalBase:
        """bedrock.amazonaws.com, only on behalf of this account's jobs of one kind (confused deputy)."""
        return iam.ServicePrincipal("bedrock.amazonaws.com").with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": bedrock_arn(self, f"{resource_type}/*")},
            }
        )

    def _allow_invocation_log_delivery(self) -> None:
        """Bedrock model invocation logging of this account may write under invocation-logs/ (AWS's documented policy)."""
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowBedrockInvocationLogDelivery",
            principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[self.bucket.arn_for_objects(INVOCATION_LOG_KEYS)],
            conditions={
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": bedrock_arn(self, "*")},
            },
        ))  # fmt: skip

    def _distillation_role(self) -> iam.Role:
        role = self._bedrock_job_role(
            "DistillationRole",
            job_kind="model-customization-job",
            description="Assumed by Amazon Bedrock for model distillation jobs of this project",
            read=("ReadTrainingData", DATASET_KEYS),
            write=("WriteDistillationOutput", DISTILLATION_OUTPUT_KEYS),
            invoke=("InvokeTeacher", ["bedrock:InvokeModel"], self.config.teacher_model_id),
            extra_list_prefixes=(INVOCATION_LOG_KEYS,),
            reason="Bedrock distillation jobs are named per run: objects are scoped to the dataset and output "
            "prefixes of runs/<run_id>/, the smallest prefixes that cover every run.",
        )
        # Runs that distil from the router's invocation logs: Bedrock reads them with this role.
        role.add_to_policy(iam.PolicyStatement(
            sid="ReadInvocationLogs", actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(INVOCATION_LOG_KEYS)],
        ))  # fmt: skip
        self._acknowledge_run_prefixes(
            role,
            [INVOCATION_LOG_KEYS],
            "Invocation logs are delivered under invocation-logs/ by date and model.",
        )
        return role

    @property
    def _invocation_jobs(self) -> str:
        return bedrock_arn(self, "model-invocation-job/*")

    def _evaluation_role(self) -> iam.Role:
        role = self._bedrock_job_role(
            "EvaluationRole",
            job_kind="evaluation-job",
            description="Assumed by Amazon Bedrock for model evaluation (LLM judge) jobs of this project",
            read=("ReadEvaluationInput", JUDGE_INPUT_KEYS),
            write=("WriteEvaluationOutput", JUDGE_OUTPUT_KEYS),
            # The judge runs as a batch inference job (AWS's judge role: InvokeModel, Create/StopModelInvocationJob).
            invoke=(
                "InvokeJudge",
                ["bedrock:InvokeModel", "bedrock:CreateModelInvocationJob"],
                self.config.judge_model_id,
            ),
            invoke_resources=(self._invocation_jobs,),
            reason="Evaluation jobs are named per run: objects are scoped to the evaluation input and output "
            "prefixes of runs/<run_id>/, the smallest prefixes that cover every run.",
        )
        # What AWS's documented judge role adds on the output bucket (Bedrock user guide, "Required service
        # role permissions for creating a model evaluation job that uses a judge model").
        role.add_to_policy(iam.PolicyStatement(
            sid="EvaluationOutputUploads",
            actions=["s3:GetObject", "s3:AbortMultipartUpload"],
            resources=[self.bucket.arn_for_objects(JUDGE_OUTPUT_KEYS)],
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="StopJudgeInvocations", actions=["bedrock:StopModelInvocationJob"], resources=[self._invocation_jobs],
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="EvaluationBucket",
            actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
            resources=[self.bucket.bucket_arn],
        ))  # fmt: skip
        acknowledge_resources(
            role,
            "Bedrock invocation (batch) job ids are assigned by Bedrock: scoped to this account's and region's jobs.",
            [self._invocation_jobs],
        )
        return role

    def _bedrock_job_role(
        self,
        construct_id: str,
        *,
        job_kind: str,
        description: str,
        read: tuple[str, str],
        write: tuple[str, str],
        invoke: tuple[str, list[str], str],
        reason: str,
        extra_list_prefixes: tuple[str, ...] = (),
        invoke_resources: tuple[str, ...] = (),
    ) -> iam.Role:
        """A role Bedrock assumes for one kind of job: read one prefix, write another, invoke one model."""
        role = iam.Role(
            self, construct_id, assumed_by=self._bedrock_principal(job_kind), description=description
        )
        (read_sid, read_keys), (write_sid, write_keys) = read, write
        invoke_sid, invoke_actions, model_id = invoke
        role.add_to_policy(iam.PolicyStatement(
            sid=read_sid, actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(read_keys)],
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid="ListRuns",
            actions=["s3:ListBucket"],
            resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [RUN_KEYS, *extra_list_prefixes]}},
        ))  # fmt: skip
        role.add_to_policy(iam.PolicyStatement(
            sid=write_sid, actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(write_keys)],
        ))  # fmt: skip
        add_model_statements(role, model_statements(
            self, invoke_sid, invoke_actions, [model_id], extra_resources=invoke_resources,
        ))  # fmt: skip
        self._acknowledge_run_prefixes(role, [read_keys, write_keys], reason)
        return role

    def _acknowledge_run_prefixes(self, role: iam.Role, key_patterns: list[str], reason: str) -> None:
        """Acknowledge IAM5 only for the exact object prefixes this role was given."""
        acknowledge_resources(
            role, reason, [self.bucket.arn_for_objects(pattern) for pattern in key_patterns]
        )
