"""Amazon Bedrock data access of the pipeline: small functions taking their client.

Each function makes one API call (request shapes checked against botocore's service
model: the unit tests use botocore's Stubber) and turns Bedrock's error codes into the
pipeline's named errors, so the state machine can retry the transient ones:

- ThrottlingException, ServiceUnavailable, InternalServer... -> TeacherThrottled (teacher
  calls) or BedrockThrottled (control plane): retried with backoff and jitter;
- AccessDeniedException -> ModelAccessDenied; ValidationException and quota errors ->
  BedrockRequestRejected; both carry Bedrock's message and are not retried;
- errors of the connection rather than of the request (botocore's read and connect timeouts,
  closed connections, cut-off response streams), ModelErrorException and any 5xx answer are
  transient too: one slow answer must not end a run that the state machine can retry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from ..errors import (
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
        "ModelErrorException",
        "ModelStreamErrorException",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# The connection failed, not the request: read/connect timeouts, closed connections, cut-off streams.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    HTTPClientError,
    BotocoreConnectionError,
    IncompleteReadError,
)
_REJECTED = frozenset({"ValidationException", "ServiceQuotaExceededException", "TooManyTagsException"})


def error_code(exc: ClientError) -> str:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    # Event-stream errors name their exception in lower camel case ("throttlingException").
    return code[:1].upper() + code[1:]


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def _translate(
    exc: ClientError, operation: str, transient: type[PipelineError] = BedrockThrottled
) -> Exception:
    """The named error for a Bedrock ClientError, or the ClientError itself when there is none."""
    code = error_code(exc)
    detail = f"{operation}: {code}: {_message(exc)}"
    if code in _TRANSIENT or (_status(exc) >= 500 and code not in _REJECTED):
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
    except TRANSPORT_ERRORS as exc:
        raise BedrockThrottled(f"GetFoundationModel: {type(exc).__name__}: {exc}") from exc


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
    except TRANSPORT_ERRORS as exc:
        raise TeacherThrottled(f"Converse ({model_id}): {type(exc).__name__}: {exc}") from exc
    blocks: Sequence[Mapping[str, Any]] = response.get("output", {}).get("message", {}).get("content", [])
    usage = response.get("usage", {})
    return ConverseAnswer(
        text="".join(str(block.get("text", "")) for block in blocks),
        stop_reason=str(response.get("stopReason", "")),
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
    )


# ------------------------------------------------------------------------------ jobs and deployments
# GetModelCustomizationJob and GetCustomModelDeployment accept the resource's name as well as its
# ARN: a step looks up the run-named resource before creating it, so a rerun reuses it.


class AlreadyExists(PipelineError):
    """A create call met a resource of the same name (a concurrent attempt of the same step).

    ``otherwise`` is the error to raise when no resource of that name is found after all (a
    ValidationException that was not a name clash).
    """

    def __init__(self, message: str, otherwise: Exception | None = None) -> None:
        super().__init__(message)
        self.otherwise = otherwise


def _describe(
    call: Callable[..., dict[str, Any]], operation: str, **identifier: str
) -> dict[str, Any] | None:
    """`call(**identifier)`, or None when Bedrock does not know the resource."""
    try:
        return call(**identifier)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise _translate(exc, operation) from exc
    except TRANSPORT_ERRORS as exc:
        raise BedrockThrottled(f"{operation}: {type(exc).__name__}: {exc}") from exc


def _create(
    call: Callable[..., dict[str, Any]],
    operation: str,
    request: Mapping[str, Any],
    arn_key: str,
    clash_codes: frozenset[str] = frozenset({"ConflictException"}),
) -> str:
    """`call(**request)[arn_key]`; AlreadyExists on an error that may be a name clash (`clash_codes`)."""
    try:
        return call(**request)[arn_key]
    except ClientError as exc:
        if error_code(exc) in clash_codes:
            raise AlreadyExists(_message(exc), otherwise=_translate(exc, operation)) from exc
        raise _translate(exc, operation) from exc
    except TRANSPORT_ERRORS as exc:
        raise BedrockThrottled(f"{operation}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Ensured:
    """What `ensure` found or made: the existing resource's description, or the new resource's ARN."""

    existing: dict[str, Any] | None = None
    created_arn: str | None = None


def ensure(find: Callable[[], dict[str, Any] | None], create: Callable[[], str]) -> Ensured:
    """The run-named resource: the one `find` returns, else the one `create` makes.

    A create that meets a resource of the same name (a concurrent attempt of the same step
    made it between our look-up and our create) finds that one instead; when there is none
    after all, the create's own error is raised.
    """
    existing = find()
    if existing is None:
        try:
            return Ensured(created_arn=create())
        except AlreadyExists as clash:
            existing = find()
            if existing is None:
                if clash.otherwise is not None:
                    raise clash.otherwise from clash
                raise
    return Ensured(existing=existing)


def find_customization_job(bedrock: Any, job_name: str) -> dict[str, Any] | None:
    """The job named `job_name`, or None."""
    return _describe(bedrock.get_model_customization_job, "GetModelCustomizationJob", jobIdentifier=job_name)


def get_customization_job(bedrock: Any, job_arn: str) -> dict[str, Any]:
    try:
        return bedrock.get_model_customization_job(jobIdentifier=job_arn)
    except ClientError as exc:
        raise _translate(exc, "GetModelCustomizationJob") from exc
    except TRANSPORT_ERRORS as exc:
        raise BedrockThrottled(f"GetModelCustomizationJob: {type(exc).__name__}: {exc}") from exc


def create_customization_job(bedrock: Any, request: Mapping[str, Any]) -> str:
    """CreateModelCustomizationJob; returns the job ARN. AlreadyExists on a name conflict."""
    return _create(bedrock.create_model_customization_job, "CreateModelCustomizationJob", request, "jobArn")


def find_deployment(bedrock: Any, deployment_name: str) -> dict[str, Any] | None:
    """The deployment named `deployment_name`, or None."""
    return _describe(
        bedrock.get_custom_model_deployment,
        "GetCustomModelDeployment",
        customModelDeploymentIdentifier=deployment_name,
    )


def get_deployment(bedrock: Any, deployment_arn: str) -> dict[str, Any]:
    try:
        return bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn)
    except ClientError as exc:
        raise _translate(exc, "GetCustomModelDeployment") from exc
    except TRANSPORT_ERRORS as exc:
        raise BedrockThrottled(f"GetCustomModelDeployment: {type(exc).__name__}: {exc}") from exc


# CreateCustomModelDeployment lists no ConflictException in botocore's service model: a name already
# taken is answered as a ValidationException, so that code sends `ensure` looking for the deployment
# by name (a ValidationException with no deployment of that name is raised as BedrockRequestRejected).
_DEPLOYMENT_CLASH_CODES = frozenset({"ConflictException", "ValidationException"})


def create_deployment(bedrock: Any, request: Mapping[str, Any]) -> str:
    """CreateCustomModelDeployment; returns the deployment ARN. AlreadyExists on a possible name clash."""
    return _create(
        bedrock.create_custom_model_deployment,
        "CreateCustomModelDeployment",
        request,
        "customModelDeploymentArn",
        clash_codes=_DEPLOYMENT_CLASH_CODES,
    )
