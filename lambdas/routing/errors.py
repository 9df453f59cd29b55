"""Named errors of every pipeline step (distillation and evaluation) and of promotion.

Step Functions sees the exception's class name as the Lambda error type, and the state
machine retries or catches by that name (statemachine/pipeline.asl.json), so the names
are a contract: rename one and the definition, README and tests must follow.

Every message says what to change: the configuration key (cdk.json context, or the
execution input key that overrides it) or the operator action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class PipelineError(Exception):
    """Base class of every error the pipeline steps (and the operator's promotion) raise on purpose."""


# --- fail fast, before anything is paid for (Plan) -------------------------------------------


class InvalidSettings(PipelineError):
    """The function's environment (set by the CDK stack from cdk.json) is incomplete or invalid."""


class InvalidEvent(PipelineError):
    """A step received a payload (or an environment) that is not what the state machine contract says."""


class InvalidInput(PipelineError):
    """The execution input (or a setting it resolves to) is not acceptable; the message lists each key."""


class ModelNotAvailable(PipelineError):
    """A configured model does not exist in the region, or cannot be used by this deployment."""


class ModelEndOfLife(PipelineError):
    """A configured model is past its end-of-life date."""


class ModelNotDistillable(PipelineError):
    """The student model does not support DISTILLATION customization."""


# --- data ------------------------------------------------------------------------------------


class DatasetInvalid(PipelineError):
    """A bring-your-own dataset is missing or has lines that are not labelled examples."""


class GoldSetInvalid(PipelineError):
    """The gold set (gold_s3_uri) is missing, outside imports/, or has lines that are not labelled examples
    (each bad line numbered), or repeats a query."""


class DatasetTooSmall(PipelineError):
    """Fewer valid examples than Bedrock (100 training records) or the held-out split need."""


class DatasetTooLarge(PipelineError):
    """The training file breaks Bedrock's limits (15,000 records, 1 GB)."""


class GenerationAborted(PipelineError):
    """The first teacher batches were mostly invalid: generation stops before paying for the rest."""


class GenerationIncomplete(PipelineError):
    """More teacher batches failed after their retries than generation_checks.max_failed_batch_share."""


# --- transient: the state machine retries these with backoff and jitter ----------------------


class TeacherThrottled(PipelineError):
    """Bedrock throttled (or was briefly unable to serve) a teacher call."""


class BedrockThrottled(PipelineError):
    """Bedrock throttled a control-plane call (jobs, deployments, judge jobs, model metadata)."""


# --- not transient ---------------------------------------------------------------------------


class ModelAccessDenied(PipelineError):
    """Bedrock refused to run a model for this account (model access, IAM or agreement missing)."""


class BedrockRequestRejected(PipelineError):
    """Bedrock rejected a request as invalid; the message carries Bedrock's reason."""


class DistillationFailed(PipelineError):
    """The model customization job ended Failed; the message carries Bedrock's failure message."""


class DistillationStopped(PipelineError):
    """The model customization job was stopped before it completed."""


class DistillationTimedOut(PipelineError):
    """The job was still running at the deadline (job_deadline_hours) or the poll budget."""


class DeploymentFailed(PipelineError):
    """The custom model deployment ended Failed; the message carries Bedrock's failure message."""


class DeploymentTimedOut(PipelineError):
    """The deployment was still Creating at the deadline (deployment_deadline_minutes)."""


# --- evaluation, report and promotion ---------------------------------------------------------


class HoldoutInvalid(PipelineError):
    """The held-out dataset is missing, empty or has a line that is not a labelled example."""


class EvaluationStalled(PipelineError):
    """An evaluation invocation finished no answer at all: looping again would not help."""


class ResultsMissing(PipelineError):
    """The report step found no evaluation results for the run (Evaluate did not complete)."""


class JudgeRequestInvalid(PipelineError):
    """The LLM-judge job cannot be requested (names or S3 URIs outside Bedrock's patterns)."""


class GateNotPassed(PipelineError):
    """Promotion was asked for a run whose quality gate did not pass."""


class NothingToRollBack(PipelineError):
    """The active-model parameter holds no previous value to return to."""


class ReportNotFound(PipelineError):
    """No report.json exists for the named run (manual promotion needs one)."""


# --- rollout (docs/rollout.md) ---------------------------------------------------------------


class NoRollout(PipelineError):
    """A rollout change (percent, finish) was asked for while no rollout runs."""


class RolloutRefused(PipelineError):
    """A rollout cannot start or change as asked (the candidate is already active, a percent out of range)."""


class RolloutControlFailed(PipelineError):
    """The rollout controller could not read or write what it needs (SSM, CloudWatch, SNS); AWS's reason."""


def validation_details(exc: ValidationError) -> str:
    """Each problem of a pydantic ValidationError as `field.path: message`, for a named error's message."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
        for problem in exc.errors()
    )


# Retried by the state machine (with Lambda's own transient errors); everything else is caught.
RETRYABLE_ERRORS: tuple[type[PipelineError], ...] = (TeacherThrottled, BedrockThrottled)

__all__ = [
    "RETRYABLE_ERRORS",
    "BedrockRequestRejected",
    "BedrockThrottled",
    "DatasetInvalid",
    "DatasetTooLarge",
    "DatasetTooSmall",
    "DeploymentFailed",
    "DeploymentTimedOut",
    "DistillationFailed",
    "DistillationStopped",
    "DistillationTimedOut",
    "EvaluationStalled",
    "GateNotPassed",
    "GenerationAborted",
    "GenerationIncomplete",
    "GoldSetInvalid",
    "HoldoutInvalid",
    "InvalidEvent",
    "InvalidInput",
    "InvalidSettings",
    "JudgeRequestInvalid",
    "ModelAccessDenied",
    "ModelEndOfLife",
    "ModelNotAvailable",
    "ModelNotDistillable",
    "NoRollout",
    "NothingToRollBack",
    "PipelineError",
    "ReportNotFound",
    "ResultsMissing",
    "RolloutControlFailed",
    "RolloutRefused",
    "TeacherThrottled",
    "validation_details",
]
