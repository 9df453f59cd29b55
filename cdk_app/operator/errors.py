"""Errors of the operator CLI: what the user can fix, in one line.

Problems the user can fix raise `OperatorError` (or a subclass) with a one-line message that
says how; `explain_error` turns botocore's exceptions into such a line. The CLI prints either
as one red line (`cdk_app.operator.cli`), `vsr doctor` as a failing check.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)


class OperatorError(Exception):
    """A problem the user can fix; the message is one line and says how."""


class StackNotDeployed(OperatorError):
    pass


class RunNotFound(OperatorError):
    pass


class ReportNotReady(OperatorError):
    pass


class PromotionRefused(OperatorError):
    pass


class NothingToRollBack(OperatorError):
    pass


class RouterCallFailed(OperatorError):
    pass


class TeacherUnavailable(OperatorError):
    """The teacher cannot answer at all (credentials, model access, an unknown model): `vsr gold sheet`."""


_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
_BAD_CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceQuotaExceededException",
    "LimitExceededException",
}


def _operation(exc: ClientError) -> str:
    return str(getattr(exc, "operation_name", "") or "the request")


def explain_error(exc: BaseException, region: str) -> str | None:
    """One line saying what went wrong and how to fix it, for AWS errors; None for anything else."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, ProfileNotFound):
        return f"{exc}: check AWS_PROFILE / --profile against `aws configure list-profiles`"
    if isinstance(exc, TokenRetrievalError):
        return f"your SSO session has expired ({exc}): run `aws sso login`"
    if isinstance(exc, NoRegionError):
        return "no AWS region: set `region` in cdk.json or pass --region"
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}: check the region ({region}) "
            "and your network"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")).strip()
        op = _operation(exc)
        if code in _EXPIRED:
            return "your AWS credentials have expired: refresh them (e.g. `aws sso login`) and retry"
        if code in _BAD_CREDENTIALS:
            return (
                f"AWS rejected your credentials ({code}): check the access key, profile and region ({region})"
            )
        if code in _ACCESS_DENIED:
            return f"access denied calling {op} in {region}: {message or code}"
        if code in _THROTTLED:
            return f"{op} was throttled or hit a quota ({code}): wait a minute and retry. {message}".strip()
        return f"{op} failed in {region}: {code}: {message}".rstrip(": ")
    if isinstance(exc, BotoCoreError):
        return f"AWS SDK error: {exc}"
    return None
