"""The offline stand-in's client base: requests checked the way the real client and Bedrock check them.

Both stand-in clients (:mod:`cdk_app.local.control_plane`, :mod:`cdk_app.local.runtime`) derive
from :class:`OfflineClient`, which gives every operation the same path:

1. idempotency tokens are filled in when missing, like the real client;
2. ``botocore.validate.validate_parameters`` against botocore's service model of the installed
   version (what the real client and ``botocore.stub.Stubber`` run): required members, types,
   minimum lengths and values raise ``ParamValidationError`` exactly like the real client;
3. the constraints Bedrock checks on the server (the model's regular-expression patterns and
   maximum lengths/values, which botocore leaves to the service) raise a ``ValidationException``
   with AWS's "1 validation error detected: ..." message. Enum values are not enforced: the
   service accepts values the published model does not list (e.g. the evaluation task type
   ``General`` of the user guide's examples);
4. the call goes to the account's call log (:class:`cdk_app.local.account.Call`), and fails
   there when the account's script says so (:attr:`cdk_app.local.account.Script.failures`);
5. every response is checked against the operation's output shape with botocore's validator.

Errors are the real client's modeled exceptions (``client.exceptions.ResourceNotFoundException``
and so on) with the real response shape; ``get_paginator`` uses botocore's paginator model.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape
from botocore.paginate import Paginator
from botocore.session import get_session
from botocore.validate import ParamValidator, validate_parameters

from cdk_app.local.account import Call, OfflineAccount
from cdk_app.local.answers import OFFLINE_LABEL

__all__ = ["OfflineClient", "page", "parse_s3_uri", "server_constraint_errors"]


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


class OfflineClient:
    """Validation, errors, pagination and response checks shared by both stand-in clients."""

    _service = ""
    # Control-plane calls mutate the shared state and run one at a time; Converse runs concurrently.
    _serialise = True

    def __init__(self, account: OfflineAccount) -> None:
        self.account = account
        real = _real_client(self._service, account.settings.region)
        self.meta = real.meta
        self.exceptions = real.exceptions
        self._service_model = real.meta.service_model
        self._py_to_op = {xform_name(name): name for name in self._service_model.operation_names}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {OFFLINE_LABEL} region={self.account.settings.region}>"

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
        self,
        operation: str,
        params: Mapping[str, Any],
        implementation: Callable[[dict[str, Any]], dict],
        kind: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict:
        """Validate, log (with the request's `kind` when given), run `implementation`, check its answer."""
        model = self._service_model.operation_model(operation)
        request = dict(params)
        self._fill_idempotency_tokens(model, request)
        # Exactly what the real client does before serializing: raises ParamValidationError.
        validate_parameters(request, model.input_shape)
        call: Call = self.account.record(operation, request)
        if kind is not None:
            call.kind = kind(request)
        scripted = self.account.script.failures.get(operation)
        if scripted is not None:
            raise self._error(operation, *scripted)
        problems = server_constraint_errors(request, model.input_shape)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            raise self._error(
                operation, "ValidationException", f"{count} validation {noun} detected: {'; '.join(problems)}"
            )
        if self._serialise:
            with self.account.lock:
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


def server_constraint_errors(value: Any, shape: Shape, path: str = "", *, enums: bool = False) -> list[str]:
    """What Bedrock's server-side validation reports: patterns and maximum lengths/values.

    Messages follow AWS's format ("Value 'x' at 'a.b' failed to satisfy constraint: ...").
    Minimums are the client's job (ParamValidator); enums are not enforced (see module docs)
    unless `enums` asks for them, as a test does to see every value the published model does not list.
    """
    problems: list[str] = []
    meta = shape.metadata
    type_name = shape.type_name
    if type_name == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                child = f"{path}.{name}" if path else name
                problems.extend(server_constraint_errors(value[name], member, child, enums=enums))
    elif type_name == "list" and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                _constraint(value, path, f"Member must have length less than or equal to {meta['max']}")
            )
        for index, item in enumerate(value):
            problems.extend(
                server_constraint_errors(item, shape.member, f"{path}.{index + 1}.member", enums=enums)
            )
    elif type_name == "map" and isinstance(value, Mapping):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                _constraint(value, path, f"Member must have length less than or equal to {meta['max']}")
            )
        for key, item in value.items():
            problems.extend(server_constraint_errors(key, shape.key, f"{path}.key", enums=enums))
            problems.extend(server_constraint_errors(item, shape.value, f"{path}.value", enums=enums))
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
        if enums and shape.enum and value not in shape.enum:
            problems.append(
                _constraint(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
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


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def page(items: list[dict[str, Any]], request: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One page of a List* answer: `maxResults` items from the offset in `nextToken`."""
    if request.get("sortOrder") == "Ascending":
        items = list(reversed(items))
    start = int(request.get("nextToken") or 0)
    size = int(request.get("maxResults") or 100)
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["nextToken"] = str(start + size)
    return page
