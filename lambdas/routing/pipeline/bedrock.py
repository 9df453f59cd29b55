"""Amazon Bedrock data access of the pipeline: small functions taking their client.

Each function makes one API call (request shapes checked against botocore's service
model: the unit tests use botocore's Stubber) and turns Bedrock's error codes into the
pipeline's named errors, so the state machine can retry the transient ones:

- ThrottlingException, ServiceUnavailable, InternalServer... -> TeacherThrottled (teacher
  calls) or BedrockThrottled (control plane): retried with backoff and jitter;
- AccessDeniedException -> ModelAccessDenied; ValidationException and quota errors ->
  BedrockRequestRejected; both carry Bedrock's message and are not retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .errors import (
    BedrockRequestRejected,
    BedrockThrottled,
    ModelAccessDenied,
    ModelNotAvailable,
    PipelineError,
    TeacherThrottled,
)

_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelNotReadyException",
        "ModelTimeoutException",
    }
)
_REJECTED = frozenset({"ValidationException", "ServiceQuotaExceededException", "TooManyTagsException"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def _translate(
    exc: ClientError, operation: str, transient: type[PipelineError] = BedrockThrottled
) -> Exception:
    """The named error for a Bedrock ClientError, or the ClientError itself when there is none."""
    code = error_code(exc)
    detail = f"{operation}: {code}: {_message(exc)}"
    if code in _TRANSIENT:
        return transient(detail)
    if code == "AccessDeniedException":
        return ModelAccessDenied(detail)
    if code in _REJECTED:
        return BedrockRequestRejected(detail)
    return exc


# ------------------------------------------------------------------------------ model metadata


def get_foundation_model(bedrock: Any, model_id: str) -> dict[str, Any] | None:
    """`modelDetails` of a foundation model, or None if Bedrock does not know it in this region."""
    try:
        return bedrock.get_foundation_model(modelIdentifier=model_id)["modelDetails"]
    except ClientError as exc:
        if error_code(exc) in {"ResourceNotFoundException", "ValidationException"}:
            return None
        raise _translate(exc, "GetFoundationModel") from exc


# ------------------------------------------------------------------------------ teacher calls


@dataclass(frozen=True)
class ConverseAnswer:
    text: str
    stop_reason: str
    input_tokens: int
    output_tokens: int


def converse(
    runtime: Any,
    *,
    model_id: str,
    system: str,
    prompt: str,
    max_tokens: int,
    temperature: float,
    request_metadata: Mapping[str, str],
) -> ConverseAnswer:
    """One Converse call; the text blocks of the answer joined."""
    try:
        response = runtime.converse(
            modelId=model_id,
            system=[{"text": system}],
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig={"maxTokens": max_tokens, "temperature": temperature},
            requestMetadata=dict(request_metadata),
        )
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ModelNotAvailable(f"Converse: {model_id}: {_message(exc)}") from exc
        raise _translate(exc, f"Converse ({model_id})", transient=TeacherThrottled) from exc
    blocks: Sequence[Mapping[str, Any]] = response.get("output", {}).get("message", {}).get("content", [])
    usage = response.get("usage", {})
    return ConverseAnswer(
        text="".join(str(block.get("text", "")) for block in blocks),
        stop_reason=str(response.get("stopReason", "")),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
    )


# ------------------------------------------------------------------------------ customization jobs


def find_customization_job(bedrock: Any, job_name: str) -> dict[str, Any] | None:
    """The job named `job_name` (GetModelCustomizationJob accepts a name), or None."""
    try:
        return bedrock.get_model_customization_job(jobIdentifier=job_name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise _translate(exc, "GetModelCustomizationJob") from exc


def get_customization_job(bedrock: Any, job_arn: str) -> dict[str, Any]:
    try:
        return bedrock.get_model_customization_job(jobIdentifier=job_arn)
    except ClientError as exc:
        raise _translate(exc, "GetModelCustomizationJob") from exc


class AlreadyExists(PipelineError):
    """A create call met a resource of the same name (a concurrent attempt of the same step)."""


def create_customization_job(bedrock: Any, request: Mapping[str, Any]) -> str:
    """CreateModelCustomizationJob; returns the job ARN. AlreadyExists on a name conflict."""
    try:
        return bedrock.create_model_customization_job(**request)["jobArn"]
    except ClientError as exc:
        if error_code(exc) == "ConflictException":
            raise AlreadyExists(_message(exc)) from exc
        raise _translate(exc, "CreateModelCustomizationJob") from exc


# ------------------------------------------------------------------------------ deployments


def find_deployment(bedrock: Any, deployment_name: str) -> dict[str, Any] | None:
    """The deployment named `deployment_name` (GetCustomModelDeployment accepts a name), or None."""
    try:
        return bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise _translate(exc, "GetCustomModelDeployment") from exc


def get_deployment(bedrock: Any, deployment_arn: str) -> dict[str, Any]:
    try:
        return bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn)
    except ClientError as exc:
        raise _translate(exc, "GetCustomModelDeployment") from exc


def create_deployment(bedrock: Any, request: Mapping[str, Any]) -> str:
    """CreateCustomModelDeployment; returns the deployment ARN. AlreadyExists on a name conflict."""
    try:
        return bedrock.create_custom_model_deployment(**request)["customModelDeploymentArn"]
    except ClientError as exc:
        if error_code(exc) == "ConflictException":
            raise AlreadyExists(_message(exc)) from exc
        raise _translate(exc, "CreateCustomModelDeployment") from exc
