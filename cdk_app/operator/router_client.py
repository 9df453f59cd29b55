"""Client of the deployed router API (`vsr route`): the signed POST /route request and its answer.

With api_auth=iam the request is signed with SigV4 for execute-api; with api_auth=api_key it
carries the key (`api_key_value` reads it from API Gateway when the user gives none). HTTP and
network failures become a one-line `RouterCallFailed`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from cdk_app.operator.errors import RouterCallFailed


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
