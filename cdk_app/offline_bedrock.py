"""Offline stand-in for Amazon Bedrock, for the local dry run and tests without an AWS account.

NOTHING THIS MODULE RETURNS IS A MODEL RESULT. It answers like Bedrock so that the real
pipeline handlers can run end to end on a laptop (the local dry run, `make dry-run`), but
every query, weight, score, latency and token count below is simulated from keyword
heuristics and a seeded random generator. Its numbers must never be presented as what a
model did; every answer it writes is labelled ``[offline stand-in]`` where a label fits.

What it stands in for: the two boto3 clients the handlers use, ``bedrock`` (control
plane: foundation models, inference profiles, model customization jobs, custom models,
custom model deployments, evaluation jobs) and ``bedrock-runtime`` (Converse). Get both
with :func:`offline_clients` and hand them to the handlers' client seam
(``routing.clients.override_clients``).
This module is the API surface (validation, errors, lifecycles, S3); the simulated answers
themselves are written by :mod:`cdk_app.offline_answers`.

How close to Bedrock it is, and where it is not:

* Requests are checked the way the real client checks them, against botocore's service
  model of the installed version: ``ParamValidator`` (required members, types, minimum
  lengths and values) raises ``botocore.exceptions.ParamValidationError`` exactly like
  the real client; idempotency tokens are filled in when missing, like the real client.
  Then the constraints Bedrock checks on the server (regular-expression patterns and
  maximum lengths/values of the model) raise a ``ValidationException`` ``ClientError``
  with AWS's "1 validation error detected: ..." message. Enum values are not enforced:
  the service accepts values the published model does not list (e.g. the evaluation
  task type ``General`` of the user guide's examples).
* Errors are the real client's modeled exceptions (``client.exceptions.ResourceNotFoundException``
  and so on, all ``botocore.exceptions.ClientError`` subclasses) with the real response shape.
* Every response is checked against the operation's output shape before it is returned.
* Lifecycles advance per read, not per wall-clock second: a customization job reports
  ``InProgress`` for ``job_polls`` Get calls, then ``Completed`` (or ``Failed`` when its
  training file breaks Bedrock's dataset rules); a deployment ``Creating`` for
  ``deployment_polls`` calls, then ``Active``; an evaluation job ``InProgress`` for
  ``evaluation_polls`` calls, then ``Completed`` after writing its judge output. Stopping a
  job or an evaluation job reports ``Stopping`` once, then ``Stopped``. Resources are
  created idempotently: the same name with the same client request token returns the
  existing one; the same name with another token is a ``ConflictException``.
* Evaluation jobs read their precomputed-inference dataset from S3 and write a judge
  output JSONL in Bedrock's layout (``<output>/<job name>/<job id>/models/<source>/taskTypes/
  <task type>/datasets/<dataset>/<id>_output.jsonl``, records with ``automatedEvaluationResult``
  and ``inputRecord``) through the S3 client given to :func:`offline_clients` (moto's in
  the dry run). Without an S3 client, or with an unreadable dataset, the job ends
  ``Failed`` with the reason in ``failureMessages``. The "judge" scores are the
  deterministic rubric (``routing.rubric``) plus seeded disagreement, not a model's opinion.
* Converse recognises two kinds of prompt:
  - teacher generation (the request asks for N labelled queries/examples as a JSON array):
    a JSON array of N varied video search queries, weighted by ``routing.heuristic_decision``
    plus seeded noise, honouring a modality focus and difficulty named in the prompt;
  - routing (the system prompt is ``routing.system_prompt(modalities)``): an answer whose
    quality depends on the model: a distilled deployment answers clean JSON close to the
    heuristic, the base student often wraps it in prose, fences or nesting, or is cut off
    (like the seed's recorded Nova Micro answers), the baseline answers clean JSON.
  Anything else gets a labelled one-line answer. ``maxTokens`` is honoured (a longer answer
  is cut with ``stopReason`` ``max_tokens``); tokens are estimated from text length;
  ``metrics.latencyMs`` is simulated per model (seeded, so deterministic) and nothing sleeps.
  Client-side timings come from :meth:`OfflineBedrockRuntime.timer`, a per-thread simulated
  clock that each Converse call advances by its simulated latency: the dry run hands it to the
  evaluation (``routing.clients.override_timer``), so the latencies it measures, and the gate
  decisions they feed, are the simulation's and identical for identical runs.
* Everything is deterministic for a given ``seed``: each Converse answer derives from the
  seed and the request itself (not from call order), so concurrent callers and retries get
  the same answer; resource ids derive from the seed and the resource name.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape
from botocore.paginate import Paginator
from botocore.session import get_session
from botocore.validate import ParamValidator, validate_parameters

from cdk_app.offline_answers import (
    OFFLINE_LABEL,
    PROFILES,
    TEACHER_LATENCY,
    estimate_tokens,
    judge_record,
    routing_answer,
    routing_modalities,
    seed_of,
    teacher_answer,
    teacher_request,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "FOUNDATION_MODELS",
    "OFFLINE_LABEL",
    "FoundationModel",
    "OfflineBedrock",
    "OfflineBedrockRuntime",
    "OfflineSettings",
    "offline_clients",
]

DEFAULT_ACCOUNT = "123456789012"  # moto's default account, so ARNs line up with the mocked services

# ============================================================================ model catalogue


@dataclass(frozen=True, slots=True)
class FoundationModel:
    """One row of GetFoundationModel's answer (values as in us-east-1, 2026)."""

    model_id: str
    name: str
    provider: str
    inference_types: tuple[str, ...]
    customizations: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ("TEXT",)
    lifecycle: str = "ACTIVE"
    legacy_time: datetime | None = None
    end_of_life: datetime | None = None
    # Can act as a distillation teacher (not part of the API answer: Bedrock checks it on create).
    teacher: bool = False


_NOVA_MODALITIES = ("TEXT", "IMAGE", "VIDEO")

FOUNDATION_MODELS: dict[str, FoundationModel] = {
    model.model_id: model
    for model in (
        FoundationModel("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", ("ON_DEMAND", "INFERENCE_PROFILE")),
        # The customizable variants are separate model ids (context window suffix), invoked only once customized.
        FoundationModel(
            "amazon.nova-micro-v1:0:128k",
            "Nova Micro",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
        ),
        FoundationModel(
            "amazon.nova-lite-v1:0",
            "Nova Lite",
            "Amazon",
            ("ON_DEMAND", "INFERENCE_PROFILE"),
            (),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-lite-v1:0:300k",
            "Nova Lite",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-pro-v1:0",
            "Nova Pro",
            "Amazon",
            ("ON_DEMAND", "INFERENCE_PROFILE"),
            (),
            _NOVA_MODALITIES,
            teacher=True,
        ),
        FoundationModel(
            "amazon.nova-pro-v1:0:300k",
            "Nova Pro",
            "Amazon",
            ("PROVISIONED",),
            ("FINE_TUNING", "DISTILLATION"),
            _NOVA_MODALITIES,
        ),
        FoundationModel(
            "amazon.nova-premier-v1:0",
            "Nova Premier",
            "Amazon",
            ("INFERENCE_PROFILE",),
            (),
            _NOVA_MODALITIES,
            lifecycle="LEGACY",
            legacy_time=datetime(2026, 3, 14, tzinfo=UTC),
            end_of_life=datetime(2026, 9, 14, tzinfo=UTC),
            teacher=True,
        ),
        FoundationModel(
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "Claude Haiku 4.5",
            "Anthropic",
            ("INFERENCE_PROFILE",),
            (),
            ("TEXT", "IMAGE"),
        ),
    )
}

_PROFILE_GEOGRAPHIES = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-2"),
    "global": (),
}
_GEOGRAPHY_NAMES = {"us": "US", "eu": "EU", "apac": "APAC", "global": "Global"}


def _split_profile(model_id: str) -> tuple[str | None, str]:
    """("us", "amazon.nova-pro-v1:0") for a system inference profile id, (None, id) otherwise."""
    head, _, rest = model_id.partition(".")
    if head in _PROFILE_GEOGRAPHIES and rest in FOUNDATION_MODELS:
        return head, rest
    return None, model_id


def _foundation_id(identifier: str) -> str:
    """The model id inside a foundation-model ARN, or the identifier itself."""
    marker = ":foundation-model/"
    return identifier.split(marker, 1)[1] if marker in identifier else identifier


def _inference_profile_id(identifier: str) -> str:
    marker = ":inference-profile/"
    return identifier.split(marker, 1)[1] if marker in identifier else identifier


# ============================================================================ settings and state


@dataclass(frozen=True, slots=True)
class OfflineSettings:
    """How the stand-in behaves. Defaults suit tests: quick lifecycles."""

    seed: int = 0
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT
    # Get calls that still report the in-progress status before a resource is done.
    job_polls: int = 2
    deployment_polls: int = 1
    evaluation_polls: int = 1
    # Share of teacher items written with a defect the parser must drop (0: every item usable).
    teacher_defect_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("job_polls", "deployment_polls", "evaluation_polls"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.teacher_defect_rate <= 1.0:
            raise ValueError("teacher_defect_rate must be within [0, 1]")


@dataclass
class _Job:
    arn: str
    name: str
    token: str
    request: dict[str, Any]
    base_model_id: str
    created: datetime
    failure: str | None = None  # decided on create (dataset checks), reported once the job ends
    reads: int = 0
    status: str = "InProgress"
    ended: datetime | None = None
    model_arn: str | None = None
    training_records: int = 0


@dataclass
class _CustomModel:
    arn: str
    name: str
    job: _Job
    created: datetime


@dataclass
class _Deployment:
    arn: str
    name: str
    token: str
    model_arn: str
    description: str | None
    created: datetime
    reads: int = 0
    status: str = "Creating"
    updated: datetime | None = None


@dataclass
class _EvaluationJob:
    arn: str
    name: str
    token: str
    request: dict[str, Any]
    created: datetime
    reads: int = 0
    status: str = "InProgress"
    updated: datetime | None = None
    failures: list[str] = field(default_factory=list)
    output_key: str | None = None


class _State:
    """What both clients share: the control plane's resources, behind one lock."""

    def __init__(self, settings: OfflineSettings, s3: Any, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.s3 = s3
        self.clock = clock
        self.lock = threading.RLock()
        # Simulated seconds of model time spent by each thread's Converse calls (OfflineBedrockRuntime.timer).
        self.model_time = threading.local()
        self.jobs: dict[str, _Job] = {}
        self.models: dict[str, _CustomModel] = {}
        self.deployments: dict[str, _Deployment] = {}
        self.evaluations: dict[str, _EvaluationJob] = {}

    def resource_id(self, kind: str, name: str) -> str:
        """12 lowercase alphanumerics, stable for (seed, kind, name): Bedrock's id alphabet."""
        digest = hashlib.sha256(f"{self.settings.seed}\x00{kind}\x00{name}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[byte % len(alphabet)] for byte in digest[:12])

    def arn(self, resource: str) -> str:
        return f"arn:aws:bedrock:{self.settings.region}:{self.settings.account}:{resource}"


# ============================================================================ the client base


@lru_cache(maxsize=8)
def _real_client(service: str, region: str) -> Any:
    """A real boto3 client, used only for its service model and exception classes.

    Creating a client reads botocore's bundled model files; it opens no connection, and
    the stand-in never calls it.
    """
    session = boto3.session.Session(
        aws_access_key_id="offline-stand-in", aws_secret_access_key="offline-stand-in", region_name=region
    )
    return session.client(service)


@lru_cache(maxsize=64)
def _paginator_config(service: str, operation: str) -> dict[str, Any] | None:
    try:
        return get_session().get_paginator_model(service).get_paginator(operation)
    except ValueError:  # botocore's answer for an operation without a paginator
        return None


class _OfflineClient:
    """Validation, errors, pagination and response checks shared by both stand-in clients."""

    _service = ""
    # Control-plane calls mutate the shared state and run one at a time; Converse runs concurrently.
    _serialise = True

    def __init__(self, state: _State) -> None:
        self._state = state
        real = _real_client(self._service, state.settings.region)
        self.meta = real.meta
        self.exceptions = real.exceptions
        self._service_model = real.meta.service_model
        self._py_to_op = {xform_name(name): name for name in self._service_model.operation_names}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {OFFLINE_LABEL} region={self._state.settings.region}>"

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the class does not define.
        operations = self.__dict__.get("_py_to_op", {})
        if name in operations:
            raise NotImplementedError(
                f"{OFFLINE_LABEL} {self._service}.{name} ({operations[name]}) is not implemented by the "
                "offline stand-in for Amazon Bedrock"
            )
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    # ------------------------------------------------------------------ request handling

    def _call(
        self, operation: str, params: Mapping[str, Any], implementation: Callable[[dict[str, Any]], dict]
    ) -> dict:
        model = self._service_model.operation_model(operation)
        request = dict(params)
        self._fill_idempotency_tokens(model, request)
        # Exactly what the real client does before serializing: raises ParamValidationError.
        validate_parameters(request, model.input_shape)
        problems = _server_constraint_errors(request, model.input_shape)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            raise self._error(
                operation, "ValidationException", f"{count} validation {noun} detected: {'; '.join(problems)}"
            )
        if self._serialise:
            with self._state.lock:
                response = implementation(request)
        else:
            response = implementation(request)
        self._check_response(model, response)
        response["ResponseMetadata"] = {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"x-offline-stand-in": "true"},
            "RetryAttempts": 0,
        }
        return response

    @staticmethod
    def _fill_idempotency_tokens(model: OperationModel, request: dict[str, Any]) -> None:
        # The real client fills a missing idempotency token with a fresh UUID before validation.
        for name, member in model.input_shape.members.items():
            if member.metadata.get("idempotencyToken") and name not in request:
                request[name] = str(uuid.uuid4())

    def _check_response(self, model: OperationModel, response: dict[str, Any]) -> None:
        if model.output_shape is None:
            return
        report = ParamValidator().validate(response, model.output_shape)
        if report.has_errors():
            raise AssertionError(
                f"{OFFLINE_LABEL} built a {model.name} response that does not match the service model:\n"
                f"{report.generate_report()}"
            )

    def _error(self, operation: str, code: str, message: str, status: int = 400) -> ClientError:
        response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": str(uuid.uuid4()),
                "HTTPStatusCode": status,
                "HTTPHeaders": {"x-amzn-errortype": code, "x-offline-stand-in": "true"},
                "RetryAttempts": 0,
            },
            "message": message,
        }
        exception_class = self.exceptions.from_code(code)
        return exception_class(response, operation)

    # ------------------------------------------------------------------ client API parity

    def can_paginate(self, operation_name: str) -> bool:
        operation = self._py_to_op.get(operation_name)
        return operation is not None and _paginator_config(self._service, operation) is not None

    def get_paginator(self, operation_name: str) -> Paginator:
        if not self.can_paginate(operation_name):
            raise NotImplementedError(f"{OFFLINE_LABEL} {operation_name} cannot be paginated")
        operation = self._py_to_op[operation_name]
        return Paginator(
            getattr(self, operation_name),
            _paginator_config(self._service, operation),
            self._service_model.operation_model(operation),
        )

    def close(self) -> None:
        """Nothing to release (parity with boto3 clients)."""


def _server_constraint_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What Bedrock's server-side validation reports: patterns and maximum lengths/values.

    Messages follow AWS's format ("Value 'x' at 'a.b' failed to satisfy constraint: ...").
    Minimums are the client's job (ParamValidator); enums are not enforced (see module docs).
    """
    problems: list[str] = []
    meta = shape.metadata
    type_name = shape.type_name
    if type_name == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                child = f"{path}.{name}" if path else name
                problems.extend(_server_constraint_errors(value[name], member, child))
    elif type_name == "list" and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                _constraint(value, path, f"Member must have length less than or equal to {meta['max']}")
            )
        for index, item in enumerate(value):
            problems.extend(_server_constraint_errors(item, shape.member, f"{path}.{index + 1}.member"))
    elif type_name == "map" and isinstance(value, Mapping):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                _constraint(value, path, f"Member must have length less than or equal to {meta['max']}")
            )
        for key, item in value.items():
            problems.extend(_server_constraint_errors(key, shape.key, f"{path}.key"))
            problems.extend(_server_constraint_errors(item, shape.value, f"{path}.value"))
    elif type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                _constraint(value, path, f"Member must have length less than or equal to {meta['max']}")
            )
        pattern = meta.get("pattern")
        if pattern and not _pattern_matches(pattern, value):
            problems.append(
                _constraint(value, path, f"Member must satisfy regular expression pattern: {pattern}")
            )
    elif (
        type_name in {"integer", "long", "float", "double"}
        and isinstance(value, (int, float))
        and value > meta.get("max", math.inf)
    ):
        problems.append(
            _constraint(value, path, f"Member must have value less than or equal to {meta['max']}")
        )
    return problems


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # a Java-only construct: leave the check to the real service


def _pattern_matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    # The service anchors its patterns (botocore's model drops the ^...$).
    return compiled is None or compiled.fullmatch(value) is not None


def _constraint(value: Any, path: str, rule: str) -> str:
    shown = value if isinstance(value, (str, int, float)) else json.dumps(value, default=str)[:200]
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {rule}"


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _page(items: list[dict[str, Any]], request: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One page of a List* answer: `maxResults` items from the offset in `nextToken`."""
    if request.get("sortOrder") == "Ascending":
        items = list(reversed(items))
    start = int(request.get("nextToken") or 0)
    size = int(request.get("maxResults") or 100)
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["nextToken"] = str(start + size)
    return page


# ============================================================================ control plane


class OfflineBedrock(_OfflineClient):
    """Stand-in for ``boto3.client("bedrock")``: see the module docstring."""

    _service = "bedrock"

    # ------------------------------------------------------------------ foundation models

    def get_foundation_model(self, **params: Any) -> dict[str, Any]:
        return self._call("GetFoundationModel", params, self._get_foundation_model)

    def _get_foundation_model(self, request: dict[str, Any]) -> dict[str, Any]:
        model_id = _foundation_id(request["modelIdentifier"])
        model = FOUNDATION_MODELS.get(model_id)
        if model is None:
            raise self._error(
                "GetFoundationModel",
                "ResourceNotFoundException",
                f"Model {model_id} not found in this region.",
                404,
            )
        lifecycle: dict[str, Any] = {"status": model.lifecycle}
        if model.legacy_time:
            lifecycle["legacyTime"] = model.legacy_time
        if model.end_of_life:
            lifecycle["endOfLifeTime"] = model.end_of_life
        details = {
            "modelArn": f"arn:aws:bedrock:{self._state.settings.region}::foundation-model/{model.model_id}",
            "modelId": model.model_id,
            "modelName": model.name,
            "providerName": model.provider,
            "inputModalities": list(model.input_modalities),
            "outputModalities": ["TEXT"],
            "responseStreamingSupported": True,
            "customizationsSupported": list(model.customizations),
            "inferenceTypesSupported": list(model.inference_types),
            "modelLifecycle": lifecycle,
        }
        return {"modelDetails": details}

    def get_inference_profile(self, **params: Any) -> dict[str, Any]:
        return self._call("GetInferenceProfile", params, self._get_inference_profile)

    def _get_inference_profile(self, request: dict[str, Any]) -> dict[str, Any]:
        profile_id = _inference_profile_id(request["inferenceProfileIdentifier"])
        geography, model_id = _split_profile(profile_id)
        model = FOUNDATION_MODELS.get(model_id)
        if geography is None or model is None or "INFERENCE_PROFILE" not in model.inference_types:
            raise self._error(
                "GetInferenceProfile",
                "ResourceNotFoundException",
                f"Inference profile {profile_id} not found.",
                404,
            )
        regions = _PROFILE_GEOGRAPHIES[geography] or (self._state.settings.region,)
        settings = self._state.settings
        return {
            "inferenceProfileName": f"{_GEOGRAPHY_NAMES[geography]} {model.provider} {model.name}",
            "description": f"Routes requests to {model.provider} {model.name} in {geography} regions.",
            "inferenceProfileArn": f"arn:aws:bedrock:{settings.region}:{settings.account}:inference-profile/{profile_id}",
            "models": [
                {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"} for region in regions
            ],
            "inferenceProfileId": profile_id,
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
        }

    # ------------------------------------------------------------------ customization jobs

    def create_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateModelCustomizationJob", params, self._create_job)

    def _create_job(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateModelCustomizationJob"
        state = self._state
        existing = next((job for job in state.jobs.values() if job.name == request["jobName"]), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"jobArn": existing.arn}  # an idempotent retry
            raise self._error(
                operation, "ConflictException", f"A job named {request['jobName']} already exists.", 409
            )
        base_id = _foundation_id(request["baseModelIdentifier"])
        base = FOUNDATION_MODELS.get(base_id)
        if base is None:
            raise self._error(operation, "ValidationException", f"The base model {base_id} is not valid.")
        kind = request.get("customizationType", "FINE_TUNING")
        if kind not in base.customizations:
            raise self._error(
                operation,
                "ValidationException",
                f"The base model {base_id} does not support {kind} customization.",
            )
        if kind == "DISTILLATION":
            self._check_teacher(operation, request)
        training = request["trainingDataConfig"]
        if not training.get("s3Uri") and not training.get("invocationLogsConfig"):
            raise self._error(
                operation, "ValidationException", "trainingDataConfig needs s3Uri or invocationLogsConfig."
            )
        now = state.clock()
        job = _Job(
            arn=state.arn(
                f"model-customization-job/{base_id}/{state.resource_id('job', request['jobName'])}"
            ),
            name=request["jobName"],
            token=request["clientRequestToken"],
            request=request,
            base_model_id=base_id,
            created=now,
        )
        if training.get("s3Uri"):
            job.training_records, job.failure = self._check_training_data(training["s3Uri"])
        state.jobs[job.arn] = job
        return {"jobArn": job.arn}

    def _check_teacher(self, operation: str, request: Mapping[str, Any]) -> None:
        distillation = (request.get("customizationConfig") or {}).get("distillationConfig")
        if not distillation:
            raise self._error(
                operation, "ValidationException", "DISTILLATION needs customizationConfig.distillationConfig."
            )
        teacher_id = _inference_profile_id(
            _foundation_id(distillation["teacherModelConfig"]["teacherModelIdentifier"])
        )
        _, teacher_model_id = _split_profile(teacher_id)
        teacher = FOUNDATION_MODELS.get(teacher_model_id)
        if teacher is None or not teacher.teacher:
            raise self._error(
                operation, "ValidationException", f"{teacher_id} is not a supported teacher model."
            )
        if teacher.end_of_life and self._state.clock() >= teacher.end_of_life:
            raise self._error(
                operation, "ValidationException", f"The teacher model {teacher_id} has reached end of life."
            )

    def _check_training_data(self, uri: str) -> tuple[int, str | None]:
        """(records, failure) for a bedrock-conversation-2024 training file; failure None when usable.

        Bedrock validates the data after accepting the job, so a bad file fails the job, not the call.
        Without an S3 client the file cannot be read and is assumed usable.
        """
        s3 = self._state.s3
        if s3 is None:
            return 0, None
        bucket, key = _parse_s3_uri(uri)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            return 0, f"Unable to read training data at {uri}: {exc.response.get('Error', {}).get('Code')}"
        if len(body) > 1024**3:
            return 0, "Training data is larger than 1 GB."
        records = 0
        for number, line in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            records += 1
            problem = _conversation_record_problem(line)
            if problem:
                return records, f"Invalid record at line {number} of {uri}: {problem}"
        if not 100 <= records <= 15_000:
            return records, f"Training data has {records} records; distillation needs between 100 and 15,000."
        return records, None

    def get_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("GetModelCustomizationJob", params, self._get_job)

    def _find_job(self, operation: str, identifier: str) -> _Job:
        job = self._state.jobs.get(identifier) or next(
            (job for job in self._state.jobs.values() if job.name == identifier), None
        )
        if job is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find job {identifier}.", 404
            )
        return job

    def _get_job(self, request: dict[str, Any]) -> dict[str, Any]:
        job = self._find_job("GetModelCustomizationJob", request["jobIdentifier"])
        self._advance_job(job)
        return self._describe_job(job)

    def _advance_job(self, job: _Job) -> None:
        job.reads += 1
        if job.status == "Stopping":
            job.status, job.ended = "Stopped", self._state.clock()
        elif job.status == "InProgress" and job.reads > self._state.settings.job_polls:
            job.ended = self._state.clock()
            if job.failure:
                job.status = "Failed"
                return
            job.status = "Completed"
            state = self._state
            model_arn = state.arn(f"custom-model/{job.base_model_id}/{state.resource_id('model', job.name)}")
            job.model_arn = model_arn
            state.models[model_arn] = _CustomModel(model_arn, job.request["customModelName"], job, job.ended)

    def _describe_job(self, job: _Job) -> dict[str, Any]:
        request = job.request
        region = self._state.settings.region
        described: dict[str, Any] = {
            "jobArn": job.arn,
            "jobName": job.name,
            "outputModelName": request["customModelName"],
            "clientRequestToken": job.token,
            "roleArn": request["roleArn"],
            "status": job.status,
            "creationTime": job.created,
            "lastModifiedTime": job.ended or job.created,
            "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model_id}",
            "trainingDataConfig": request["trainingDataConfig"],
            "validationDataConfig": request.get("validationDataConfig", {"validators": []}),
            "outputDataConfig": request["outputDataConfig"],
            "customizationType": request.get("customizationType", "FINE_TUNING"),
        }
        for key in ("hyperParameters", "customizationConfig", "vpcConfig"):
            if key in request:
                described[key] = request[key]
        if job.ended:
            described["endTime"] = job.ended
        if job.status == "Failed":
            described["failureMessage"] = f"{OFFLINE_LABEL} {job.failure}"
        if job.model_arn:
            described["outputModelArn"] = job.model_arn
            rng = random.Random(f"{self._state.settings.seed}:loss:{job.name}")
            described["trainingMetrics"] = {"trainingLoss": round(rng.uniform(0.05, 0.3), 4)}
        return described

    def list_model_customization_jobs(self, **params: Any) -> dict[str, Any]:
        return self._call("ListModelCustomizationJobs", params, self._list_jobs)

    def _list_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        region = self._state.settings.region
        jobs = sorted(self._state.jobs.values(), key=lambda job: job.created, reverse=True)
        summaries = []
        for job in jobs:
            if request.get("statusEquals") and job.status != request["statusEquals"]:
                continue
            if request.get("nameContains") and request["nameContains"] not in job.name:
                continue
            summary: dict[str, Any] = {
                "jobArn": job.arn,
                "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{job.base_model_id}",
                "jobName": job.name,
                "status": job.status,
                "creationTime": job.created,
                "lastModifiedTime": job.ended or job.created,
                "customModelName": job.request["customModelName"],
                "customizationType": job.request.get("customizationType", "FINE_TUNING"),
            }
            if job.ended:
                summary["endTime"] = job.ended
            if job.model_arn:
                summary["customModelArn"] = job.model_arn
            summaries.append(summary)
        return _page(summaries, request, "modelCustomizationJobSummaries")

    def stop_model_customization_job(self, **params: Any) -> dict[str, Any]:
        return self._call("StopModelCustomizationJob", params, self._stop_job)

    def _stop_job(self, request: dict[str, Any]) -> dict[str, Any]:
        job = self._find_job("StopModelCustomizationJob", request["jobIdentifier"])
        if job.status != "InProgress":
            raise self._error(
                "StopModelCustomizationJob",
                "ValidationException",
                f"Job {job.name} is {job.status}; only InProgress jobs can be stopped.",
            )
        job.status = "Stopping"
        return {}

    # ------------------------------------------------------------------ custom models

    def list_custom_models(self, **params: Any) -> dict[str, Any]:
        return self._call("ListCustomModels", params, self._list_models)

    def _list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        region = self._state.settings.region
        summaries = []
        for model in sorted(self._state.models.values(), key=lambda model: model.created, reverse=True):
            if request.get("nameContains") and request["nameContains"] not in model.name:
                continue
            base = FOUNDATION_MODELS[model.job.base_model_id]
            summaries.append(
                {
                    "modelArn": model.arn,
                    "modelName": model.name,
                    "creationTime": model.created,
                    "baseModelArn": f"arn:aws:bedrock:{region}::foundation-model/{base.model_id}",
                    "baseModelName": base.name,
                    "customizationType": model.job.request.get("customizationType", "FINE_TUNING"),
                    "ownerAccountId": self._state.settings.account,
                    "modelStatus": "Active",
                }
            )
        return _page(summaries, request, "modelSummaries")

    def delete_custom_model(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteCustomModel", params, self._delete_model)

    def _delete_model(self, request: dict[str, Any]) -> dict[str, Any]:
        identifier = request["modelIdentifier"]
        model = self._state.models.get(identifier) or next(
            (model for model in self._state.models.values() if model.name == identifier), None
        )
        if model is None:
            raise self._error(
                "DeleteCustomModel", "ResourceNotFoundException", f"Could not find model {identifier}.", 404
            )
        if any(deployment.model_arn == model.arn for deployment in self._state.deployments.values()):
            raise self._error(
                "DeleteCustomModel",
                "ValidationException",
                f"Model {model.name} has deployments; delete them first.",
            )
        del self._state.models[model.arn]
        return {}

    # ------------------------------------------------------------------ deployments

    def create_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateCustomModelDeployment", params, self._create_deployment)

    def _create_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateCustomModelDeployment"
        state = self._state
        name = request["modelDeploymentName"]
        existing = next((item for item in state.deployments.values() if item.name == name), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"customModelDeploymentArn": existing.arn}
            raise self._error(
                operation, "ConflictException", f"A deployment named {name} already exists.", 409
            )
        if request["modelArn"] not in state.models:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find model {request['modelArn']}.", 404
            )
        deployment = _Deployment(
            arn=state.arn(f"custom-model-deployment/{state.resource_id('deployment', name)}"),
            name=name,
            token=request["clientRequestToken"],
            model_arn=request["modelArn"],
            description=request.get("description"),
            created=state.clock(),
        )
        state.deployments[deployment.arn] = deployment
        return {"customModelDeploymentArn": deployment.arn}

    def _find_deployment(self, operation: str, identifier: str) -> _Deployment:
        deployment = self._state.deployments.get(identifier) or next(
            (item for item in self._state.deployments.values() if item.name == identifier), None
        )
        if deployment is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find deployment {identifier}.", 404
            )
        return deployment

    def get_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("GetCustomModelDeployment", params, self._get_deployment)

    def _get_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self._find_deployment(
            "GetCustomModelDeployment", request["customModelDeploymentIdentifier"]
        )
        deployment.reads += 1
        if deployment.status == "Creating" and deployment.reads > self._state.settings.deployment_polls:
            deployment.status, deployment.updated = "Active", self._state.clock()
        described: dict[str, Any] = {
            "customModelDeploymentArn": deployment.arn,
            "modelDeploymentName": deployment.name,
            "modelArn": deployment.model_arn,
            "createdAt": deployment.created,
            "status": deployment.status,
            "lastUpdatedAt": deployment.updated or deployment.created,
        }
        if deployment.description is not None:
            described["description"] = deployment.description
        return described

    def list_custom_model_deployments(self, **params: Any) -> dict[str, Any]:
        return self._call("ListCustomModelDeployments", params, self._list_deployments)

    def _list_deployments(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = []
        for item in sorted(self._state.deployments.values(), key=lambda item: item.created, reverse=True):
            if request.get("nameContains") and request["nameContains"] not in item.name:
                continue
            if request.get("statusEquals") and item.status != request["statusEquals"]:
                continue
            if request.get("modelArnEquals") and item.model_arn != request["modelArnEquals"]:
                continue
            summaries.append(
                {
                    "customModelDeploymentArn": item.arn,
                    "customModelDeploymentName": item.name,
                    "modelArn": item.model_arn,
                    "createdAt": item.created,
                    "status": item.status,
                    "lastUpdatedAt": item.updated or item.created,
                }
            )
        return _page(summaries, request, "modelDeploymentSummaries")

    def delete_custom_model_deployment(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteCustomModelDeployment", params, self._delete_deployment)

    def _delete_deployment(self, request: dict[str, Any]) -> dict[str, Any]:
        deployment = self._find_deployment(
            "DeleteCustomModelDeployment", request["customModelDeploymentIdentifier"]
        )
        del self._state.deployments[deployment.arn]
        return {}

    # ------------------------------------------------------------------ evaluation jobs

    def create_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateEvaluationJob", params, self._create_evaluation)

    def _create_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        operation = "CreateEvaluationJob"
        state = self._state
        name = request["jobName"]
        existing = next((item for item in state.evaluations.values() if item.name == name), None)
        if existing is not None:
            if existing.token == request["clientRequestToken"]:
                return {"jobArn": existing.arn}
            raise self._error(
                operation, "ConflictException", f"An evaluation job named {name} already exists.", 409
            )
        automated = request["evaluationConfig"].get("automated")
        if not automated:
            raise self._error(
                operation,
                "ValidationException",
                f"{OFFLINE_LABEL} only automated evaluation jobs are simulated.",
            )
        for definition in _custom_metric_definitions(automated):
            for item in definition.get("ratingScale", []):
                if len(item["definition"]) > 100:
                    raise self._error(
                        operation,
                        "ValidationException",
                        f"Rating scale definitions of custom metric {definition['name']} must be at most 100 characters.",
                    )
        evaluation = _EvaluationJob(
            arn=state.arn(f"evaluation-job/{state.resource_id('evaluation', name)}"),
            name=name,
            token=request["clientRequestToken"],
            request=request,
            created=state.clock(),
        )
        state.evaluations[evaluation.arn] = evaluation
        return {"jobArn": evaluation.arn}

    def get_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("GetEvaluationJob", params, self._get_evaluation)

    def _find_evaluation(self, operation: str, identifier: str) -> _EvaluationJob:
        evaluation = self._state.evaluations.get(identifier)
        if evaluation is None:
            raise self._error(
                operation, "ResourceNotFoundException", f"Could not find evaluation job {identifier}.", 404
            )
        return evaluation

    def _get_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        evaluation = self._find_evaluation("GetEvaluationJob", request["jobIdentifier"])
        evaluation.reads += 1
        if evaluation.status == "Stopping":
            evaluation.status, evaluation.updated = "Stopped", self._state.clock()
        elif evaluation.status == "InProgress" and evaluation.reads > self._state.settings.evaluation_polls:
            evaluation.updated = self._state.clock()
            try:
                evaluation.output_key = _run_judge(self._state, evaluation)
                evaluation.status = "Completed"
            except _JudgeFailed as exc:
                evaluation.status = "Failed"
                evaluation.failures.append(f"{OFFLINE_LABEL} {exc}")
        return self._describe_evaluation(evaluation)

    def _describe_evaluation(self, evaluation: _EvaluationJob) -> dict[str, Any]:
        request = evaluation.request
        described: dict[str, Any] = {
            "jobName": evaluation.name,
            "status": evaluation.status,
            "jobArn": evaluation.arn,
            "roleArn": request["roleArn"],
            "jobType": "Automated",
            "applicationType": request.get("applicationType", "ModelEvaluation"),
            "evaluationConfig": request["evaluationConfig"],
            "inferenceConfig": request["inferenceConfig"],
            "outputDataConfig": request["outputDataConfig"],
            "creationTime": evaluation.created,
            "lastModifiedTime": evaluation.updated or evaluation.created,
        }
        if "jobDescription" in request:
            described["jobDescription"] = request["jobDescription"]
        if evaluation.failures:
            described["failureMessages"] = list(evaluation.failures)
        return described

    def stop_evaluation_job(self, **params: Any) -> dict[str, Any]:
        return self._call("StopEvaluationJob", params, self._stop_evaluation)

    def _stop_evaluation(self, request: dict[str, Any]) -> dict[str, Any]:
        evaluation = self._find_evaluation("StopEvaluationJob", request["jobIdentifier"])
        if evaluation.status != "InProgress":
            raise self._error(
                "StopEvaluationJob",
                "ConflictException",
                f"Evaluation job {evaluation.name} is {evaluation.status}; only InProgress jobs can be stopped.",
                409,
            )
        evaluation.status = "Stopping"
        return {}

    def list_evaluation_jobs(self, **params: Any) -> dict[str, Any]:
        return self._call("ListEvaluationJobs", params, self._list_evaluations)

    def _list_evaluations(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = []
        for item in sorted(self._state.evaluations.values(), key=lambda item: item.created, reverse=True):
            if request.get("statusEquals") and item.status != request["statusEquals"]:
                continue
            if request.get("nameContains") and request["nameContains"] not in item.name:
                continue
            automated = item.request["evaluationConfig"]["automated"]
            summaries.append(
                {
                    "jobArn": item.arn,
                    "jobName": item.name,
                    "status": item.status,
                    "creationTime": item.created,
                    "jobType": "Automated",
                    "evaluationTaskTypes": [
                        config["taskType"] for config in automated["datasetMetricConfigs"]
                    ],
                    "applicationType": item.request.get("applicationType", "ModelEvaluation"),
                }
            )
        return _page(summaries, request, "jobSummaries")


def _conversation_record_problem(line: str) -> str | None:
    """Why one line is not a usable bedrock-conversation-2024 distillation record, or None."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})"
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("schemaVersion") != "bedrock-conversation-2024":
        return "schemaVersion must be bedrock-conversation-2024"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if not isinstance(message, dict) or message.get("role") != expected:
            return f"message {index} must have role {expected} (roles alternate, starting with user)"
        content = message.get("content")
        if not isinstance(content, list) or not content:
            return f"message {index} has no content"
        if any(not isinstance(block, dict) or set(block) != {"text"} for block in content):
            return f"message {index}: distillation accepts text content only"
    system = record.get("system", [])
    if not isinstance(system, list) or any(
        not isinstance(block, dict) or "text" not in block for block in system
    ):
        return "system must be a list of text blocks"
    return None


# ============================================================================ the simulated judge


class _JudgeFailed(Exception):
    """The evaluation job cannot produce its output; the message says why."""


def _custom_metric_definitions(automated: Mapping[str, Any]) -> list[dict[str, Any]]:
    metrics = (automated.get("customMetricConfig") or {}).get("customMetrics") or []
    return [metric["customMetricDefinition"] for metric in metrics if "customMetricDefinition" in metric]


def _run_judge(state: _State, evaluation: _EvaluationJob) -> str:
    """Score the job's dataset and write Bedrock's output layout to S3; returns the first output key."""
    if state.s3 is None:
        raise _JudgeFailed(
            "no S3 client was given to the offline stand-in: cannot read the dataset or write results"
        )
    request = evaluation.request
    automated = request["evaluationConfig"]["automated"]
    custom = {definition["name"]: definition for definition in _custom_metric_definitions(automated)}
    judge_id = ((automated.get("evaluatorModelConfig") or {}).get("bedrockEvaluatorModels") or [{}])[0].get(
        "modelIdentifier", "judge"
    )
    out_bucket, out_prefix = _parse_s3_uri(request["outputDataConfig"]["s3Uri"])
    out_prefix = f"{out_prefix.rstrip('/')}/" if out_prefix else ""
    job_id = evaluation.arn.rsplit("/", 1)[1]
    run_prefix = f"{out_prefix}{evaluation.name}/{job_id}/"
    sources = [
        model.get("precomputedInferenceSource", {}).get("inferenceSourceIdentifier")
        or model.get("bedrockModel", {}).get("modelIdentifier", "model")
        for model in request["inferenceConfig"].get("models", [])
    ] or ["model"]
    first_key = ""
    for config in automated["datasetMetricConfigs"]:
        records = _read_judge_dataset(state.s3, config["dataset"])
        lines = [
            judge_record(state.settings.seed, record, config["metricNames"], custom, judge_id)
            for record in records
        ]
        body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        for source in sources:
            file_id = state.resource_id("output", f"{evaluation.name}/{source}/{config['dataset']['name']}")
            key = (
                f"{run_prefix}models/{source}/taskTypes/{config['taskType']}/datasets/"
                f"{config['dataset']['name']}/{file_id}_output.jsonl"
            )
            state.s3.put_object(
                Bucket=out_bucket, Key=key, Body=body.encode(), ContentType="application/jsonl"
            )
            first_key = first_key or key
    for name, definition in custom.items():
        document = {**definition, "offlineStandIn": True}
        state.s3.put_object(
            Bucket=out_bucket,
            Key=f"{run_prefix}custom_metrics/{name}.json",
            Body=json.dumps(document, indent=2).encode(),
            ContentType="application/json",
        )
    return first_key


def _read_judge_dataset(s3: Any, dataset: Mapping[str, Any]) -> list[dict[str, Any]]:
    uri = (dataset.get("datasetLocation") or {}).get("s3Uri")
    if not uri:
        raise _JudgeFailed(
            f"dataset {dataset.get('name')} has no S3 location (built-in datasets are not simulated)"
        )
    bucket, key = _parse_s3_uri(uri)
    try:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ClientError as exc:
        raise _JudgeFailed(f"cannot read {uri}: {exc.response.get('Error', {}).get('Code')}") from exc
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _JudgeFailed(f"{uri} line {number} is not JSON: {exc.msg}") from exc
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise _JudgeFailed(f"{uri} line {number} has no 'prompt' string")
        responses = record.get("modelResponses")
        if not isinstance(responses, list) or len(responses) != 1 or not isinstance(responses[0], dict):
            raise _JudgeFailed(f"{uri} line {number}: 'modelResponses' must hold exactly one response")
        if not isinstance(responses[0].get("response"), str) or not responses[0].get("modelIdentifier"):
            raise _JudgeFailed(
                f"{uri} line {number}: a model response needs 'response' and 'modelIdentifier'"
            )
        records.append(record)
    if not records:
        raise _JudgeFailed(f"{uri} holds no prompts")
    if len(records) > 1000:
        raise _JudgeFailed(f"{uri} holds {len(records)} prompts; an evaluation job takes at most 1,000")
    return records


# ============================================================================ runtime (Converse)


class OfflineBedrockRuntime(_OfflineClient):
    """Stand-in for ``boto3.client("bedrock-runtime")``: Converse only (see the module docstring)."""

    _service = "bedrock-runtime"
    _serialise = False

    def converse(self, **params: Any) -> dict[str, Any]:
        return self._call("Converse", params, self._converse)

    def timer(self) -> float:
        """This thread's simulated clock, in seconds: each Converse call advances it by its ``latencyMs``.

        A drop-in for ``time.perf_counter`` when timing calls made from the same thread, so a
        caller's measured latency is exactly the simulated one.
        """
        return float(getattr(self._state.model_time, "seconds", 0.0))

    def _converse(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = self._model_kind(request["modelId"])
        system = "\n".join(
            block.get("text", "") for block in request.get("system", []) if isinstance(block, dict)
        )
        user = "\n".join(
            block.get("text", "")
            for message in request["messages"]
            if message.get("role") == "user"
            for block in message.get("content", [])
            if isinstance(block, dict)
        )
        seed = seed_of(
            self._state.settings.seed,
            request["modelId"],
            system,
            json.dumps(request["messages"], sort_keys=True),
        )
        rng = random.Random(seed)
        teacher = teacher_request(system, user)
        stop_reason = "end_turn"
        if teacher is not None:
            text = teacher_answer(rng, teacher, self._state.settings.teacher_defect_rate)
            latency_profile = TEACHER_LATENCY
        else:
            names = routing_modalities(system)
            if names is not None:
                last_user = request["messages"][-1]
                query = " ".join(
                    block.get("text", "") for block in last_user.get("content", []) if isinstance(block, dict)
                )
                profile = PROFILES[kind]
                text, stop_reason = routing_answer(rng, profile, query.strip(), names)
                latency_profile = (
                    profile.base_latency_ms,
                    profile.ms_per_output_token,
                    profile.latency_spread,
                )
            else:
                text = (
                    f"{OFFLINE_LABEL} This offline stand-in for Amazon Bedrock answers routing and "
                    "teacher-generation prompts only; it did not recognise this request."
                )
                latency_profile = PROFILES["large"].base_latency_ms, 5.0, 0.2
        max_tokens = (request.get("inferenceConfig") or {}).get("maxTokens")
        if max_tokens is not None and estimate_tokens(text) > max_tokens:
            text, stop_reason = text[: max_tokens * 4], "max_tokens"
        input_tokens = estimate_tokens(system) + estimate_tokens(user) + 4 * len(request["messages"])
        output_tokens = estimate_tokens(text)
        base, per_token, spread = latency_profile
        latency_ms = int((base + per_token * output_tokens) * math.exp(rng.gauss(0.0, spread)))
        self._state.model_time.seconds = self.timer() + latency_ms / 1000.0
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": latency_ms},
        }

    def _model_kind(self, model_id: str) -> str:
        """Which answer profile a model id gets; raises Bedrock's error for ids it would refuse."""
        operation = "Converse"
        if ":custom-model-deployment/" in model_id:
            with self._state.lock:
                deployment = self._state.deployments.get(model_id)
            if deployment is None:
                raise self._error(
                    operation, "ResourceNotFoundException", f"Could not find deployment {model_id}.", 404
                )
            if deployment.status != "Active":
                raise self._error(
                    operation,
                    "ModelNotReadyException",
                    f"Deployment {model_id} is {deployment.status}, not Active.",
                    429,
                )
            return "distilled"
        if ":custom-model/" in model_id:
            raise self._error(
                operation,
                "ValidationException",
                "Invoke a custom model through its deployment: use the custom model deployment ARN as modelId.",
            )
        geography, model_name = _split_profile(_inference_profile_id(_foundation_id(model_id)))
        model = FOUNDATION_MODELS.get(model_name)
        if model is None:
            raise self._error(operation, "ValidationException", "The provided model identifier is invalid.")
        if geography is None and "ON_DEMAND" not in model.inference_types:
            raise self._error(
                operation,
                "ValidationException",
                f"Invocation of model ID {model_name} with on-demand throughput isn't supported. Retry your request "
                "with the ID or ARN of an inference profile that contains this model.",
            )
        if model.end_of_life and self._state.clock() >= model.end_of_life:
            raise self._error(
                operation, "ResourceNotFoundException", f"Model {model_name} has reached end of life.", 404
            )
        if "micro" in model_name or "lite" in model_name:
            return "student"
        if "claude" in model_name:
            return "baseline"
        return "large"


# ============================================================================ the factory


def offline_clients(
    *,
    seed: int = 0,
    s3: Any = None,
    region: str = "us-east-1",
    account: str = DEFAULT_ACCOUNT,
    job_polls: int = 2,
    deployment_polls: int = 1,
    evaluation_polls: int = 1,
    teacher_defect_rate: float = 0.0,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Both stand-in clients, sharing one simulated account: ``{"bedrock": ..., "bedrock-runtime": ...}``.

    ``s3`` (a boto3 S3 client, moto's in the dry run) lets customization jobs check their
    training file and evaluation jobs read their dataset and write their output.
    ``clock`` replaces the wall clock for lifecycle dates (end-of-life checks, timestamps).
    """
    settings = OfflineSettings(
        seed=seed,
        region=region,
        account=account,
        job_polls=job_polls,
        deployment_polls=deployment_polls,
        evaluation_polls=evaluation_polls,
        teacher_defect_rate=teacher_defect_rate,
    )
    state = _State(settings, s3, clock or (lambda: datetime.now(UTC)))
    return {"bedrock": OfflineBedrock(state), "bedrock-runtime": OfflineBedrockRuntime(state)}
