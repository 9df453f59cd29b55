"""Helpers for the router Lambda tests: its environment, API Gateway events, a Stubber'd Bedrock client.

Importing this module puts `lambdas/router` (the function's code root in Lambda) on
sys.path, so `router_api` imports as it does in Lambda.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

ROUTER_DIR = Path(__file__).resolve().parents[2] / "lambdas" / "router"
if str(ROUTER_DIR) not in sys.path:
    sys.path.insert(0, str(ROUTER_DIR))

from router_api.bedrock import ClientPool  # noqa: E402 - needs sys.path above
from router_api.settings import RouterSettings  # noqa: E402
from routing import system_prompt  # noqa: E402

DEFAULT_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
FALLBACK_MODEL = "us.amazon.nova-micro-v1:0"
DEPLOYMENT_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
PARAMETER_NAME = "/vsr/test/router/active-model"
APP_TAG = "vsr-test-router"

ROUTER_ENV = {
    "ROUTER_DEFAULT_MODEL_ID": DEFAULT_MODEL,
    "ROUTER_FALLBACK_MODEL_ID": FALLBACK_MODEL,
    "ROUTER_ACTIVE_MODEL_PARAMETER": PARAMETER_NAME,
    "ROUTER_APP_TAG": APP_TAG,
    "ROUTER_DEPLOYMENT_ARN_PREFIX": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/",
    "ROUTER_QUERY_MAX_CHARS": "1000",
    "ROUTER_BATCH_MAX_QUERIES": "25",
    "ROUTER_DEADLINE_MS": "6000",
    "MODALITIES": "visual,audio,transcription,metadata",
}

GOOD_ANSWER = (
    '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "things seen"}'
)


def converse_response(text: str = GOOD_ANSWER, stop_reason: str = "end_turn") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 40, "outputTokens": 30, "totalTokens": 70},
        "metrics": {"latencyMs": 12},
    }


def expected_converse(settings: RouterSettings, model_id: str, query: str, role: str) -> dict[str, Any]:
    """The exact Converse parameters the router must send."""
    return {
        "modelId": model_id,
        "system": [{"text": system_prompt(settings.modalities)}],
        "messages": [{"role": "user", "content": [{"text": query}]}],
        "inferenceConfig": {"maxTokens": settings.max_tokens, "temperature": 0.0},
        "requestMetadata": {"app": settings.app_tag, "model_role": role},
    }


class Bedrock:
    """A real bedrock-runtime client under Stubber (parameters validated against the service model).

    `time_out(model_id)` makes calls to that model raise botocore's ReadTimeoutError, as a
    socket read timeout does, before Stubber is consulted.
    """

    def __init__(self) -> None:
        self.client = boto3.client("bedrock-runtime", region_name="us-east-1")
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.configs: list[Any] = []
        self._timing_out: set[str] = set()
        self.client.meta.events.register(
            "provide-client-params.bedrock-runtime.Converse", self._maybe_time_out
        )

    def _maybe_time_out(self, params: dict[str, Any], **_kwargs: Any) -> None:
        if params.get("modelId") in self._timing_out:
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    def time_out(self, model_id: str) -> None:
        self._timing_out.add(model_id)

    def answer(
        self, expected: dict[str, Any] | None, text: str = GOOD_ANSWER, stop_reason: str = "end_turn"
    ) -> None:
        self.stubber.add_response("converse", converse_response(text, stop_reason), expected)

    def fail(self, expected: dict[str, Any], code: str, status: int) -> None:
        self.stubber.add_client_error("converse", service_error_code=code, service_message=code,
                                      http_status_code=status, expected_params=expected)  # fmt: skip

    def pool(self) -> ClientPool:
        """A ClientPool handing out this client for every timeout tier (the configs are recorded)."""

        def create(config: Any) -> Any:
            self.configs.append(config)
            return self.client

        return ClientPool(create=create)


class LambdaContext:
    function_name = "vsr-test-router"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:vsr-test-router"
    aws_request_id = "11111111-2222-3333-4444-555555555555"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def api_event(path: str = "/route", method: str = "POST", body: Any = None, *, raw: str | None = None,
              resource: str | None = None, base64: bool = False) -> dict[str, Any]:  # fmt: skip
    """An API Gateway REST proxy event as the router's integration receives it."""
    text = raw if raw is not None else (None if body is None else json.dumps(body))
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": resource or path,
            "httpMethod": method,
            "stage": "test",
            "identity": {"sourceIp": "203.0.113.7", "userArn": "arn:aws:iam::123456789012:user/search"},
        },
        "body": text,
        "isBase64Encoded": base64,
    }
