"""AWS data access of the operator CLI (`vsr`): stack outputs, runs, reports, router, promotion, clean-up.

Every AWS call sits in a small function that takes its client as an argument; `Operator`
composes them for one configuration and region and discovers everything it needs from the
stacks' CloudFormation outputs (the user never types an ARN or a bucket name). Problems the
user can fix raise `OperatorError` (or a subclass) with a one-line message; `explain_error`
turns botocore's exceptions into such a line. Rendering lives in `cdk_app.cli`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
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
from routing import errors as routing_errors
from routing.active_model import NO_ACTIVE_MODEL, ActiveModel
from routing.evaluation import promotion
from routing.evaluation.promotion import read_active_model, write_active_model
from routing.pipeline.names import RUN_ID_PATTERN

from cdk_app.config import AppConfig

# Stack output names (public contract; the stacks define the same names).
STORAGE, PIPELINE, ROUTER_API = "storage", "pipeline", "router-api"
OUTPUT_BUCKET = "DataBucketName"
OUTPUT_DISTILLATION_ROLE = "DistillationRoleArn"
OUTPUT_EVALUATION_ROLE = "EvaluationRoleArn"
OUTPUT_ACTIVE_MODEL_PARAMETER = "ActiveModelParameterName"
OUTPUT_STATE_MACHINE = "StateMachineArn"
OUTPUT_TOPIC = "NotificationTopicArn"
OUTPUT_ROUTE_URL = "RouteUrl"
OUTPUT_API_KEY_ID = "RouterApiKeyId"

# S3 layout (public contract): everything of a run under runs/<run_id>/.
RUNS_PREFIX = "runs/"
REPORT_FILES = {"json": "report.json", "md": "report.md", "html": "report.html"}

LATEST = "latest"

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


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


# --------------------------------------------------------------------------- errors

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


# --------------------------------------------------------------------------- CloudFormation


def stack_outputs(cfn: Any, stack_name: str, region: str) -> dict[str, str]:
    """Outputs of a deployed stack; `StackNotDeployed` when it is missing or not usable."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise StackNotDeployed(
                f"stack {stack_name} is not deployed in {region}: deploy it with `make deploy` "
                "(or pass --region / -c stage=... for another deployment)"
            ) from None
        raise
    stack = stacks[0]
    status = str(stack.get("StackStatus", ""))
    if status in {
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
    }:
        raise StackNotDeployed(
            f"stack {stack_name} in {region} is {status}: fix or redeploy it (`make deploy`)"
        )
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    started: datetime
    stopped: datetime | None
    execution_arn: str

    def duration(self, now: datetime | None = None) -> timedelta:
        return (self.stopped or now or datetime.now(UTC)) - self.started


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique, name-safe run id: 20250101-120000-1a2b."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def validate_run_id(run_id: str) -> str:
    """The pipeline's own rule (Plan refuses anything else): the run id names S3 prefixes and Bedrock jobs."""
    if not RUN_ID_PATTERN.match(run_id):
        raise OperatorError(
            f"invalid run id {run_id!r}: 1 to 80 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return run_id


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """arn:...:stateMachine:<name> -> arn:...:execution:<name>:<run_id>."""
    head, sep, name = state_machine_arn.rpartition(":stateMachine:")
    if not sep:
        raise OperatorError(f"{state_machine_arn!r} is not a state machine ARN")
    return f"{head}:execution:{name}:{run_id}"


def console_url(region: str, arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"


def start_execution(sfn: Any, state_machine_arn: str, run_id: str, payload: Mapping[str, Any]) -> str:
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=run_id, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise OperatorError(f"a run named {run_id} already exists: choose another --run-id") from None
        raise


def describe_execution(sfn: Any, arn: str, run_id: str) -> dict[str, Any]:
    try:
        return sfn.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise RunNotFound(f"no run named {run_id}: list the runs with `vsr runs`") from None
        raise


def _summary(item: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=item["name"],
        status=item["status"],
        started=item["startDate"],
        stopped=item.get("stopDate"),
        execution_arn=item["executionArn"],
    )


def list_executions(
    sfn: Any, state_machine_arn: str, limit: int, status: str | None = None
) -> list[RunSummary]:
    """The most recent runs first (Step Functions lists newest first)."""
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn}
    if status:
        kwargs["statusFilter"] = status
    runs: list[RunSummary] = []
    for page in sfn.get_paginator("list_executions").paginate(**kwargs):
        runs.extend(_summary(item) for item in page["executions"])
        if len(runs) >= limit:
            break
    return runs[:limit]


def execution_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, includeExecutionData=True
    ):
        events.extend(page["events"])
    return events


# --------------------------------------------------------------------------- progress (pure)


@dataclass
class MapProgress:
    """A Map state's iterations: for the generation Map, teacher batches done / total."""

    name: str
    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    open: bool = True
    map_run_arn: str | None = None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Progress:
    run_id: str
    status: str
    started: datetime
    stopped: datetime | None = None
    current_step: str | None = None
    maps: list[MapProgress] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # the latest execution state ($.run, $.dataset, ...)
    failed_step: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (self.stopped or now or datetime.now(UTC)) - self.started

    def section(self, key: str) -> dict[str, Any]:
        value = self.state.get(key)
        return value if isinstance(value, dict) else {}


_FAILURE_EVENTS = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "MapStateFailed",
        "MapRunFailed",
        "ExecutionFailed",
        "ExecutionTimedOut",
    }
)
_EXECUTION_END = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The details of an event: `<type>EventDetails`, shared by every *StateEntered / *StateExited type."""
    kind = str(event.get("type", ""))
    for shared in ("StateEntered", "StateExited"):
        if kind.endswith(shared):
            kind = shared
    value = event.get(kind[:1].lower() + kind[1:] + "EventDetails")
    return value if isinstance(value, dict) else {}


def short_cause(cause: str | None, limit: int = 300) -> str | None:
    """A Lambda's cause is JSON with errorMessage; keep the message, on one line."""
    if not cause:
        return None
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = str(parsed.get("errorMessage") or parsed.get("Cause") or parsed.get("message") or cause)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_state(events: list[dict[str, Any]], execution: Mapping[str, Any]) -> dict[str, Any]:
    """The latest top-level execution state: the last exited state output holding `run`."""
    exited = (
        _details(event).get("output", "")
        for event in reversed(events)
        if str(event.get("type", "")).endswith("StateExited")
    )
    for text in itertools.chain([execution.get("output") or ""], exited):
        # Map iterations exit without `run`: a substring test skips them without parsing.
        if not text or '"run"' not in text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("run"), dict):
            return value
    return {}


def progress_from(run_id: str, execution: Mapping[str, Any], events: list[dict[str, Any]]) -> Progress:
    """What a run is doing, from DescribeExecution and its history (oldest event first)."""
    progress = Progress(
        run_id=run_id,
        status=execution["status"],
        started=execution["startDate"],
        stopped=execution.get("stopDate"),
    )
    maps: dict[str, MapProgress] = {}
    open_maps: list[str] = []
    last_entered: str | None = None
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered"):
            last_entered = details.get("name")
            if not open_maps:
                progress.current_step = last_entered
            if kind == "MapStateEntered" and last_entered:
                maps[last_entered] = MapProgress(name=last_entered)
                open_maps.append(last_entered)
        elif kind == "MapStateExited" and open_maps:
            maps[open_maps.pop()].open = False
        elif kind == "MapStateStarted" and open_maps:
            maps[open_maps[-1]].total = details.get("length")
        elif kind == "MapRunStarted" and open_maps:
            maps[open_maps[-1]].map_run_arn = details.get("mapRunArn")
        elif kind == "MapIterationSucceeded" and details.get("name") in maps:
            maps[details["name"]].succeeded += 1
        elif kind in {"MapIterationFailed", "MapIterationAborted"} and details.get("name") in maps:
            maps[details["name"]].failed += 1
        if kind in _FAILURE_EVENTS:
            if (
                kind not in _EXECUTION_END
            ):  # the execution ends in a Fail state: the step that failed came before
                progress.failed_step = last_entered
            progress.error = details.get("error") or progress.error
            progress.cause = short_cause(details.get("cause")) or progress.cause
    progress.maps = list(maps.values())
    progress.state = _run_state(events, execution)
    if progress.status in TERMINAL_STATUSES and progress.status != "SUCCEEDED":
        progress.failed_step = progress.failed_step or (
            progress.current_step if progress.status == "TIMED_OUT" else None
        )
        progress.error = execution.get("error") or progress.error
        progress.cause = short_cause(execution.get("cause")) or progress.cause
        caught = progress.state.get("error")
        if isinstance(caught, dict):  # the pipeline's Catch keeps the real error (and the step) under $.error
            progress.failed_step = caught.get("step") or progress.failed_step
            progress.error = caught.get("Error") or progress.error
            progress.cause = short_cause(caught.get("Cause")) or progress.cause
    else:
        progress.failed_step = progress.error = progress.cause = None
    return progress


def apply_map_run(progress_map: MapProgress, description: Mapping[str, Any]) -> None:
    """Fill a distributed Map's counts from DescribeMapRun."""
    counts = description.get("itemCounts", {})
    progress_map.total = counts.get("total", progress_map.total)
    progress_map.succeeded = counts.get("succeeded", progress_map.succeeded)
    progress_map.failed = counts.get("failed", 0) + counts.get("aborted", 0) + counts.get("timedOut", 0)


# --------------------------------------------------------------------------- reports


def report_key(run_id: str, kind: str = "json") -> str:
    return f"{RUNS_PREFIX}{run_id}/report/{REPORT_FILES[kind]}"


def read_json_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """A JSON object from S3, or None when the key does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise
    try:
        value = json.loads(body)
    except ValueError:
        raise OperatorError(f"s3://{bucket}/{key} is not valid JSON") from None
    if not isinstance(value, dict):
        raise OperatorError(f"s3://{bucket}/{key} is not a JSON object")
    return value


def download(s3: Any, bucket: str, key: str, path: Path) -> bool:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return False
        raise
    path.write_bytes(body)
    return True


# --------------------------------------------------------------------------- router API


def build_route_request(
    url: str, query: str, *, region: str, credentials: Any | None, api_key: str | None = None
) -> urllib.request.Request:
    """POST {"query": ...}, signed with SigV4 for execute-api when credentials are given."""
    body = json.dumps({"query": query}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    if credentials is not None:
        signed = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(credentials, "execute-api", region).add_auth(signed)
        headers = dict(signed.headers.items())
    return urllib.request.Request(url, data=body, headers=headers, method="POST")


def api_key_value(apigateway: Any, key_id: str) -> str:
    return str(apigateway.get_api_key(apiKey=key_id, includeValue=True)["value"])


_HTTP_HINTS = {
    400: "the API refused the request",
    403: "your identity needs execute-api:Invoke on the router API (or the API key is wrong)",
    429: "throttled by the API's usage plan: retry in a moment",
}


def send_route_request(
    request: urllib.request.Request, opener: Callable[..., Any] | None = None, timeout: float = 15.0
) -> dict[str, Any]:
    try:
        with (opener or urllib.request.urlopen)(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read() or b""
        try:
            detail = json.loads(raw)
            message = detail.get("message") or detail.get("error") or raw.decode(errors="replace")
        except ValueError:
            message = raw.decode(errors="replace")
        hint = _HTTP_HINTS.get(exc.code, "")
        text = " ".join(str(message).split())[:300]
        raise RouterCallFailed(
            f"the router API answered {exc.code}: {text}" + (f" ({hint})" if hint else "")
        ) from None
    except urllib.error.URLError as exc:
        raise RouterCallFailed(f"cannot reach {request.full_url}: {exc.reason}") from None
    except TimeoutError:
        raise RouterCallFailed(f"{request.full_url} did not answer within {timeout:g} s") from None
    try:
        value = json.loads(payload)
    except ValueError:
        raise RouterCallFailed("the router API answered with something that is not JSON") from None
    if not isinstance(value, dict):
        raise RouterCallFailed("the router API answered with JSON that is not an object")
    return value


# --------------------------------------------------------------------------- active model
# Reading, promoting and rolling back go through routing.evaluation.promotion, the same code
# as the pipeline's Promote step, so a manual promotion writes exactly what an automatic one does.


def distilled_model_id(report: Mapping[str, Any]) -> str | None:
    for model in report.get("models", []):
        if isinstance(model, dict) and model.get("candidate") == "distilled":
            value = model.get("model_id")
            return value if isinstance(value, str) and value else None
    return None


def deployment_status(bedrock: Any, deployment_arn: str) -> str:
    return str(bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=deployment_arn)["status"])


# --------------------------------------------------------------------------- clean-up


def is_project_resource(name: str, config: AppConfig) -> bool:
    """Bedrock jobs, custom models and deployments of this project start with `<project>-<stage>-`."""
    return name.startswith(config.prefix + "-")


@dataclass(frozen=True)
class Resource:
    kind: str  # run | customization job | evaluation job | deployment | custom model | active model | data
    name: str
    identifier: str
    detail: str = ""


@dataclass
class CleanupPlan:
    resources: list[Resource] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what could not be looked at, and why

    def of_kind(self, kind: str) -> list[Resource]:
        return [item for item in self.resources if item.kind == kind]


@dataclass(frozen=True)
class CleanupResult:
    resource: Resource
    error: str | None = None


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _project_resources(
    bedrock: Any,
    config: AppConfig,
    kind: str,
    listing: tuple[str, str],
    fields: tuple[str, str, str],
    **filters: Any,
) -> list[Resource]:
    """This project's resources of one kind: Bedrock's name filter, then the exact project-name rule."""
    operation, key = listing
    name_field, arn_field, status_field = fields
    return [
        Resource(kind, item[name_field], item[arn_field], item.get(status_field, ""))
        for item in _paginate(bedrock, operation, key, nameContains=config.prefix, **filters)
        if is_project_resource(item[name_field], config)
    ]


def list_project_deployments(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "deployment",
        ("list_custom_model_deployments", "modelDeploymentSummaries"),
        ("customModelDeploymentName", "customModelDeploymentArn", "status"),
    )  # fmt: skip


def list_project_models(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "custom model",
        ("list_custom_models", "modelSummaries"),
        ("modelName", "modelArn", "modelStatus"),
    )  # fmt: skip


def list_running_customization_jobs(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "customization job",
        ("list_model_customization_jobs", "modelCustomizationJobSummaries"),
        ("jobName", "jobArn", "status"),
        statusEquals="InProgress",
    )  # fmt: skip


def list_running_evaluation_jobs(bedrock: Any, config: AppConfig) -> list[Resource]:
    return _project_resources(
        bedrock, config, "evaluation job",
        ("list_evaluation_jobs", "jobSummaries"),
        ("jobName", "jobArn", "status"),
        statusEquals="InProgress",
    )  # fmt: skip


def count_object_versions(s3: Any, bucket: str, prefix: str) -> int:
    total = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        total += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    return total


def delete_object_versions(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every version and delete marker under `prefix` (the bucket is versioned); returns the count."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        keys = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise OperatorError(
                    f"could not delete s3://{bucket}/{first.get('Key')}: {first.get('Message')}"
                )
            deleted += len(batch)
    return deleted


# --------------------------------------------------------------------------- the facade


@dataclass(frozen=True)
class StartedRun:
    run_id: str
    execution_arn: str
    console_url: str


@dataclass(frozen=True)
class Promotion:
    before: ActiveModel
    after: ActiveModel
    parameter: str
    changed: bool = True


class Operator:
    """The operator's view of one deployment (configuration + region), with stack discovery."""

    def __init__(
        self,
        config: AppConfig,
        region: str,
        client_factory: Callable[[str], Any],
        credentials: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.region = region
        self._client_factory = client_factory
        self._credentials = credentials
        self._clients: dict[str, Any] = {}
        self._outputs: dict[str, dict[str, str]] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    # --- discovery
    def outputs(self, role: str) -> dict[str, str]:
        if role not in self._outputs:
            self._outputs[role] = stack_outputs(
                self.client("cloudformation"), self.config.stack_name(role), self.region
            )
        return self._outputs[role]

    def output(self, role: str, key: str) -> str:
        value = self.outputs(role).get(key)
        if not value:
            raise StackNotDeployed(
                f"stack {self.config.stack_name(role)} has no output {key}: redeploy it with this version (`make deploy`)"
            )
        return value

    @property
    def state_machine_arn(self) -> str:
        return self.output(PIPELINE, OUTPUT_STATE_MACHINE)

    @property
    def bucket(self) -> str:
        return self.output(STORAGE, OUTPUT_BUCKET)

    @property
    def active_model_parameter(self) -> str:
        return self.output(STORAGE, OUTPUT_ACTIVE_MODEL_PARAMETER)

    # --- runs
    def start(self, run_id: str, payload: Mapping[str, Any]) -> StartedRun:
        validate_run_id(run_id)
        sfn = self.client("stepfunctions")
        try:
            existing = describe_execution(sfn, execution_arn(self.state_machine_arn, run_id), run_id)
        except RunNotFound:
            existing = None
        if existing is not None:  # Step Functions would start it again with the same input
            raise OperatorError(
                f"a run named {run_id} already exists ({existing['status']}): choose another --run-id"
            )
        arn = start_execution(sfn, self.state_machine_arn, run_id, payload)
        return StartedRun(run_id, arn, console_url(self.region, arn))

    def resolve_run(self, ref: str) -> str:
        """A run id, or the newest run for `latest`."""
        if ref != LATEST:
            return validate_run_id(ref)
        runs = self.runs(limit=1)
        if not runs:
            raise RunNotFound("there are no runs yet: start one with `vsr start`")
        return runs[0].run_id

    def runs(self, limit: int = 10, status: str | None = None) -> list[RunSummary]:
        return list_executions(self.client("stepfunctions"), self.state_machine_arn, limit, status)

    def describe(self, run_id: str) -> dict[str, Any]:
        return describe_execution(
            self.client("stepfunctions"), execution_arn(self.state_machine_arn, run_id), run_id
        )

    def progress(self, run_id: str) -> Progress:
        sfn = self.client("stepfunctions")
        arn = execution_arn(self.state_machine_arn, run_id)
        execution = describe_execution(sfn, arn, run_id)
        progress = progress_from(run_id, execution, execution_history(sfn, arn))
        for item in progress.maps:
            if item.map_run_arn and item.open:
                apply_map_run(item, sfn.describe_map_run(mapRunArn=item.map_run_arn))
        return progress

    def console_url(self, run_id: str) -> str:
        return console_url(self.region, execution_arn(self.state_machine_arn, run_id))

    # --- reports
    def report_uri(self, run_id: str, kind: str = "json") -> str:
        return f"s3://{self.bucket}/{report_key(run_id, kind)}"

    def report(self, run_id: str) -> dict[str, Any]:
        report = read_json_object(self.client("s3"), self.bucket, report_key(run_id))
        if report is None:
            raise ReportNotReady(self._no_report_reason(run_id))
        return report

    def save_report(self, run_id: str, kind: str, path: Path) -> None:
        if not download(self.client("s3"), self.bucket, report_key(run_id, kind), path):
            raise ReportNotReady(self._no_report_reason(run_id, kind))

    def _no_report_reason(self, run_id: str, kind: str = "json") -> str:
        status = self.describe(run_id)["status"]  # RunNotFound for an unknown run
        if status == "RUNNING":
            return f"run {run_id} has no report yet (it is still running: `vsr watch {run_id}`)"
        return (
            f"run {run_id} has no {REPORT_FILES[kind]} (status {status}; it stopped before the report step)"
        )

    # --- router
    def route(
        self, query: str, api_key: str | None = None, opener: Callable[..., Any] | None = None
    ) -> dict[str, Any]:
        """POST /route: SigV4-signed (api_auth=iam), or with the API key (given, or read from API Gateway)."""
        url = self.output(ROUTER_API, OUTPUT_ROUTE_URL)
        credentials = None
        if self.config.api_auth == "iam":
            provided = self._credentials() if self._credentials else None
            if provided is None:
                raise NoCredentialsError()
            credentials = provided.get_frozen_credentials()
        elif not api_key:
            api_key = api_key_value(self.client("apigateway"), self.output(ROUTER_API, OUTPUT_API_KEY_ID))
        request = build_route_request(
            url, query, region=self.region, credentials=credentials, api_key=api_key
        )
        return send_route_request(request, opener=opener)

    # --- active model
    def active_model(self) -> ActiveModel:
        return read_active_model(self.client("ssm"), self.active_model_parameter)

    def promotion_candidate(self, run_id: str, force: bool = False) -> tuple[str, dict[str, Any]]:
        """The deployment ARN a run would promote, after the checks; `PromotionRefused` says why not."""
        report = self.report(run_id)
        if report.get("offline_stand_in"):
            raise PromotionRefused(
                f"run {run_id} is a local dry run (offline stand-in): there is no model to promote"
            )
        model_id = distilled_model_id(report)
        if not model_id:
            raise PromotionRefused(f"the report of run {run_id} names no distilled model")
        gate = report.get("gate", {})
        if not gate.get("passed") and not force:
            reasons = "; ".join(gate.get("reasons", [])) or "no reason recorded"
            raise PromotionRefused(
                f"run {run_id} did not pass the quality gate ({reasons}): add --force to promote anyway"
            )
        status = deployment_status(self.client("bedrock"), model_id)
        if status != "Active":
            raise PromotionRefused(f"the deployment of run {run_id} is {status}, not Active: it cannot serve")
        return model_id, report

    def promote(self, run_id: str, model_id: str) -> Promotion:
        """Promote (idempotent: promoting the active run again changes nothing)."""
        ssm, name = self.client("ssm"), self.active_model_parameter
        before = read_active_model(ssm, name)
        result = promotion.promote_run(ssm, name, model_id, run_id)
        return Promotion(before, read_active_model(ssm, name), name, result.changed)

    def rollback(self) -> Promotion:
        ssm, name = self.client("ssm"), self.active_model_parameter
        before = read_active_model(ssm, name)
        try:
            after = promotion.rollback(ssm, name)
        except routing_errors.NothingToRollBack:
            raise NothingToRollBack(
                "nothing to roll back to: the active model has no previous value "
                f"(the router serves {before.model_id or 'the configured default'})"
            ) from None
        return Promotion(before, after, name)

    # --- clean-up
    def _optional_output(self, plan: CleanupPlan, role: str, key: str) -> str | None:
        try:
            return self.output(role, key)
        except StackNotDeployed as exc:
            plan.skipped.append(str(exc))
            return None

    def plan_cleanup(self, include_data: bool = False) -> CleanupPlan:
        """Everything of this project that bills or keeps data, in the order it must be removed."""
        plan = CleanupPlan()
        bedrock = self.client("bedrock")
        state_machine = self._optional_output(plan, PIPELINE, OUTPUT_STATE_MACHINE)
        if state_machine:
            running = list_executions(
                self.client("stepfunctions"), state_machine, limit=1000, status="RUNNING"
            )
            plan.resources.extend(
                Resource("run", run.run_id, run.execution_arn, "RUNNING") for run in running
            )
        plan.resources.extend(list_running_customization_jobs(bedrock, self.config))
        plan.resources.extend(list_running_evaluation_jobs(bedrock, self.config))
        deployments = list_project_deployments(bedrock, self.config)
        parameter = self._optional_output(plan, STORAGE, OUTPUT_ACTIVE_MODEL_PARAMETER)
        if parameter:
            active = read_active_model(self.client("ssm"), parameter)
            doomed = {item.identifier for item in deployments}
            previous = (active.previous or {}).get("model_id")
            if active.model_id in doomed or previous in doomed:
                plan.resources.append(
                    Resource(
                        "active model",
                        parameter,
                        parameter,
                        "reset: the router falls back to its configured default",
                    )
                )
        plan.resources.extend(deployments)
        plan.resources.extend(list_project_models(bedrock, self.config))
        if include_data:
            bucket = self._optional_output(plan, STORAGE, OUTPUT_BUCKET)
            if bucket:
                count = count_object_versions(self.client("s3"), bucket, RUNS_PREFIX)
                if count:
                    plan.resources.append(
                        Resource("data", f"s3://{bucket}/{RUNS_PREFIX}", bucket, f"{count} object versions")
                    )
        return plan

    def apply_cleanup(
        self, plan: CleanupPlan, on_done: Callable[[CleanupResult], None] | None = None
    ) -> list[CleanupResult]:
        """Remove what the plan lists; one failure does not stop the others (results say which failed)."""
        actions: dict[str, Callable[[Resource], Any]] = {
            "run": lambda r: self.client("stepfunctions").stop_execution(
                executionArn=r.identifier, error="vsr.Cleanup", cause="stopped by `vsr cleanup`"
            ),
            "customization job": lambda r: self.client("bedrock").stop_model_customization_job(
                jobIdentifier=r.identifier
            ),
            "evaluation job": lambda r: self.client("bedrock").stop_evaluation_job(
                jobIdentifier=r.identifier
            ),
            "active model": lambda r: write_active_model(self.client("ssm"), r.identifier, NO_ACTIVE_MODEL),
            "deployment": lambda r: self.client("bedrock").delete_custom_model_deployment(
                customModelDeploymentIdentifier=r.identifier
            ),
            "custom model": lambda r: self.client("bedrock").delete_custom_model(
                modelIdentifier=r.identifier
            ),
            "data": lambda r: delete_object_versions(self.client("s3"), r.identifier, RUNS_PREFIX),
        }
        results = []
        for resource in plan.resources:
            try:
                actions[resource.kind](resource)
                result = CleanupResult(resource)
            except (ClientError, OperatorError) as exc:
                result = CleanupResult(resource, explain_error(exc, self.region) or str(exc))
            results.append(result)
            if on_done:
                on_done(result)
        return results
