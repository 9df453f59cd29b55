"""The HTTP edge of the router: API Gateway proxy events in, proxy responses out.

`parse_request` turns a REST API (v1 proxy) event into a `RouteRequest` or raises
`ApiError` with the status and a message for the caller: 404 for an unknown path, 405
for a wrong method, 413 for a body larger than the largest valid one (checked before any
decoding), 400 for a bad body (invalid JSON, wrong types, unknown fields, queries without
a visible character or longer than the limit, too many batch items). API Gateway checks
the body against the request models of docs/openapi.json before the function runs; these
checks are the same rules (a test drives the handler with the document's boundary cases),
so the function is safe behind any caller. A query is routed with its invisible ends
trimmed. Whatever the caller sent is echoed back (and logged) only shortened.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing.contract import QUERY_NOT_VISIBLE, QUERY_VISIBLE_PATTERN

from .settings import RouterSettings

ROUTE_PATH = "/route"
BATCH_PATH = "/route/batch"
ALLOWED_METHOD = "POST"

_JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}
_VISIBLE = re.compile(QUERY_VISIBLE_PATTERN)
_INVISIBLE_ENDS = re.compile(f"^[{QUERY_NOT_VISIBLE}]+|[{QUERY_NOT_VISIBLE}]+$")
# What is echoed of the caller's own text (field names, paths) in messages and logs.
ECHO_MAX_CHARS = 40
ECHO_MAX_ITEMS = 5


class ApiError(Exception):
    """A request the router refuses; `status` and `message` go back to the caller as they are."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """Queries to route, trimmed and checked; `batch` says which response shape the caller expects."""

    queries: tuple[str, ...]
    batch: bool


def parse_request(event: Mapping[str, Any], settings: RouterSettings) -> RouteRequest:
    """Validate an API Gateway REST proxy event; raise `ApiError` (400/404/405) for anything else."""
    if not isinstance(event, Mapping):
        raise ApiError(400, "the event is not an API Gateway proxy event")
    # `resource` is the API's route template ("/route"), immune to stage names and base paths.
    path = _path_of(event)
    if path not in (ROUTE_PATH, BATCH_PATH):
        raise ApiError(
            404, f"no such resource: {_echo(path, quote=False)}; use POST {ROUTE_PATH} or POST {BATCH_PATH}"
        )
    method = str(event.get("httpMethod") or "").upper()
    if method != ALLOWED_METHOD:
        raise ApiError(405, f"method {_echo(method, quote=False) if method else '(none)'} is not allowed on {path}; use POST",
                       headers={"Allow": ALLOWED_METHOD})  # fmt: skip
    body = _json_body(event, settings)
    if path == ROUTE_PATH:
        _refuse_unknown_fields(body, {"query"})
        return RouteRequest((_query(body.get("query"), "query", settings),), batch=False)
    _refuse_unknown_fields(body, {"queries"})
    return RouteRequest(_queries(body.get("queries"), settings), batch=True)


def request_id_of(event: object, fallback: str | None) -> str | None:
    """API Gateway's request id: the one in the caller's x-amzn-RequestId header, the access log and our logs."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    request_id = context.get("requestId") if isinstance(context, Mapping) else None
    return request_id if isinstance(request_id, str) and request_id else fallback


def _path_of(event: Mapping[str, Any]) -> str:
    resource = event.get("resource")
    path = resource if isinstance(resource, str) and resource and "{" not in resource else event.get("path")
    if not isinstance(path, str) or not path:
        return "/"
    return path.rstrip("/") or "/"


def _json_body(event: Mapping[str, Any], settings: RouterSettings) -> dict[str, Any]:
    raw = event.get("body")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ApiError(400, "the request body is empty: send a JSON object")
    if not isinstance(raw, str):
        raise ApiError(400, "the request body is not text")
    too_large = ApiError(413, f"the request body is longer than {settings.max_body_chars} characters")
    # Only JSON `true` means base64 (a "false" string is not a boolean), and the size is checked first:
    # a body is never decoded when even its encoded form is larger than the largest valid body
    # (4 UTF-8 bytes per character, 4 base64 characters per 3 bytes).
    if event.get("isBase64Encoded") is True:
        if len(raw) > 4 * math.ceil(4 * settings.max_body_chars / 3):
            raise too_large
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid base64-encoded UTF-8") from None
    if len(raw) > settings.max_body_chars:
        raise too_large
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"invalid JSON: {_json_error(exc)}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {_json_type(body)}")
    return body


def _json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "nested too deeply"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _echo(text: str, *, quote: bool = True) -> str:
    """The caller's text as shown back: at most ECHO_MAX_CHARS of it, as a repr when quoted or not printable
    (a repr escapes control characters and lone surrogates, so the message stays valid UTF-8)."""
    shown = text[:ECHO_MAX_CHARS]
    shown = repr(shown) if quote or not shown.isprintable() else shown
    return shown + "..." if len(text) > ECHO_MAX_CHARS else shown


def _refuse_unknown_fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        names = ", ".join(_echo(name) for name in unknown[:ECHO_MAX_ITEMS])
        if len(unknown) > ECHO_MAX_ITEMS:
            names += f" and {len(unknown) - ECHO_MAX_ITEMS} more"
        expected = ", ".join(repr(name) for name in sorted(allowed))
        raise ApiError(400, f"unknown field(s) {names}: the body accepts only {expected}")


def _query(value: object, where: str, settings: RouterSettings) -> str:
    if value is None:
        raise ApiError(400, f"'{where}' is required")
    if not isinstance(value, str):
        raise ApiError(400, f"'{where}' must be a string, got {_json_type(value)}")
    if len(value) > settings.query_max_chars:
        raise ApiError(
            400, f"'{where}' is {len(value)} characters long; the limit is {settings.query_max_chars}"
        )
    if not _VISIBLE.search(value):
        raise ApiError(400, f"'{where}' is blank: it has no visible character")
    return _INVISIBLE_ENDS.sub("", value)


def _queries(value: object, settings: RouterSettings) -> tuple[str, ...]:
    if value is None:
        raise ApiError(400, "'queries' is required")
    if not isinstance(value, list):
        raise ApiError(400, f"'queries' must be an array of strings, got {_json_type(value)}")
    if not value:
        raise ApiError(400, f"'queries' is empty: send 1 to {settings.batch_max_queries} queries")
    if len(value) > settings.batch_max_queries:
        raise ApiError(400, f"'queries' has {len(value)} items; the limit is {settings.batch_max_queries}")
    return tuple(_query(item, f"queries[{index}]", settings) for index, item in enumerate(value))


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A proxy integration response with a compact JSON body."""
    return {
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def error_response(error: ApiError, request_id: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": error.message}
    if request_id:
        payload["request_id"] = request_id
    return json_response(error.status, payload, error.headers)


def success_body(request: RouteRequest, answers: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """`/route` answers with the flat decision itself, `/route/batch` with `{"results": [...]}` in order."""
    if request.batch:
        return {"results": list(answers)}
    return answers[0]
