"""Amazon Bedrock data access of the pipeline: small functions taking their client.

Each function makes one API call (request shapes checked against botocore's service
model: the unit tests use botocore's Stubber) and turns what Bedrock raises into the
pipeline's named errors, so the state machine can retry the transient ones. Whether an
error is transient is the runtime's one table (`routing.converse.classify`):

- throttled or transient (throttling, 5xx answers, model errors, timeouts, closed
  connections, cut-off responses) -> TeacherThrottled (teacher calls) or BedrockThrottled
  (control plane): retried with backoff and jitter; one slow answer must not end a run
  that the state machine can retry;
- AccessDeniedException -> ModelAccessDenied; ValidationException and quota errors ->
  BedrockRequestRejected; both carry Bedrock's message and are not retried;
- anything else is raised as botocore raised it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from ..converse import BEDROCK_ERRORS, ConverseResult, Fault, classify, converse
from ..errors import (
    BedrockRequestRejected,
    BedrockThrottled,
    ModelAccessDenied,
    ModelNotAvailable,
    PipelineError,
    TeacherThrottled,
)

# Permanent errors the pipeline names BedrockRequestRejected (the request, not the model access, is wrong).
_REJECTED = frozenset({"ValidationException", "ServiceQuotaExceededException", "TooManyTagsException"})


def _named(
    fault: Fault, operation: str, transient: type[PipelineError] = BedrockThrottled
) -> Exception | None:
    """The named error for a failed Bedrock call, or None when there is none."""
    detail = f"{operation}: {fault}"
    if fault.temporary:
        return transient(detail)
    if fault.code == "AccessDeniedException":
        return ModelAccessDenied(detail)
    if fault.code in _REJECTED:
        return BedrockRequestRejected(detail)
    return None


def _fail(exc: Exception, operation: str, transient: type[PipelineError] = BedrockThrottled) -> NoReturn:
    """Raise the named error for `exc` (one of BEDROCK_ERRORS), or `exc` itself when there is none."""
    named = _named(classify(exc), operation, transient)
    if named is None:
        raise exc
    raise named from exc


# ------------------------------------------------------------------------------ model metadata


def get_foundation_model(bedrock: Any, model_id: str) -> dict[str, Any] | None:
    """`modelDetails` of a foundation model, or None if Bedrock does not know it in this region."""
    try:
        return bedrock.get_foundation_model(modelIdentifier=model_id)["modelDetails"]
    except BEDROCK_ERRORS as exc:
        if classify(exc).code in {"ResourceNotFoundException", "ValidationException"}:
            return None
        _fail(exc, "GetFoundationModel")


# ------------------------------------------------------------------------------ teacher calls


def ask_teacher(runtime: Any, request: Mapping[str, Any]) -> ConverseResult:
    """One teacher Converse call (`routing.converse.converse_request`); its failures named for the Map's Retry."""
    model_id = request["modelId"]
    try:
        return converse(runtime, request)
    except BEDROCK_ERRORS as exc:
        fault = classify(exc)
        if fault.code == "ResourceNotFoundException":
            raise ModelNotAvailable(f"Converse: {model_id}: {fault.message}") from exc
        _fail(exc, f"Converse ({model_id})", transient=TeacherThrottled)


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
    except BEDROCK_ERRORS as exc:
        if classify(exc).code == "ResourceNotFoundException":
            return None
        _fail(exc, operation)


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
    except BEDROCK_ERRORS as exc:
        fault = classify(exc)
        if fault.code in clash_codes:
            raise AlreadyExists(fault.message, otherwise=_named(fault, operation) or exc) from exc
        _fail(exc, operation)


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
    except BEDROCK_ERRORS as exc:
        _fail(exc, "GetModelCustomizationJob")


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
    except BEDROCK_ERRORS as exc:
        _fail(exc, "GetCustomModelDeployment")


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
