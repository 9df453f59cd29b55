"""Shared helpers of the evaluation tests: handler loading, fake Bedrock clients, held-out data.

The fakes validate every request against botocore's service model (the same check a
Stubber makes), so a test that passes through them also proves the request shapes.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.model import Shape
from botocore.validate import validate_parameters

REPO = Path(__file__).resolve().parents[1]
MODALITIES = ["visual", "audio", "transcription", "metadata"]
DEPLOYMENT_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
STUDENT_ID = "amazon.nova-micro-v1:0"
BASELINE_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
JUDGE_ID = "us.amazon.nova-pro-v1:0"
ROLE_ARN = "arn:aws:iam::123456789012:role/vsr-evaluation"

_handlers: dict[str, ModuleType] = {}


def load_handler(folder: str) -> ModuleType:
    """lambdas/<folder>/handler.py as a uniquely named module (every Lambda's file is handler.py)."""
    if folder not in _handlers:
        path = REPO / "lambdas" / folder / "handler.py"
        spec = importlib.util.spec_from_file_location(f"lambda_{folder}_handler", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[folder] = module
    return _handlers[folder]


class FakeContext:
    """The attributes Powertools reads from a Lambda context."""

    def __init__(self, name: str = "test-function", remaining_ms: int = 900_000) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def holdout_rows(count: int) -> list[dict[str, Any]]:
    """Labelled examples with a clear dominant modality, rotating through the four."""
    rows = []
    for index in range(count):
        dominant = MODALITIES[index % len(MODALITIES)]
        weights = {name: (0.55 if name == dominant else 0.15) for name in MODALITIES}
        rows.append(
            {"query": f"query {index} about {dominant}", **weights, "reasoning": f"{dominant} matters"}
        )
    return rows


def holdout_jsonl(count: int) -> str:
    return "".join(json.dumps(row) + "\n" for row in holdout_rows(count))


def reference_by_query(count: int) -> dict[str, dict[str, float]]:
    return {row["query"]: {name: row[name] for name in MODALITIES} for row in holdout_rows(count)}


def converse_response(
    text: str, *, input_tokens: int = 60, output_tokens: int = 40, latency_ms: int = 100
) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        },
        "metrics": {"latencyMs": latency_ms},
    }


Answer = Callable[[str, str, dict[str, float] | None], dict[str, Any]]


def exact(model_id: str, query: str, reference: dict[str, float] | None) -> dict[str, Any]:
    """Returns the reference decision itself (scores 5)."""
    return converse_response(json.dumps({**(reference or {}), "reasoning": "exact"}))


def shifted(amount: float) -> Answer:
    """Moves `amount` of weight from the dominant modality to the next one."""

    def answer(model_id: str, query: str, reference: dict[str, float] | None) -> dict[str, Any]:
        weights = dict(reference or {})
        names = list(weights)
        top = max(names, key=weights.__getitem__)
        other = names[(names.index(top) + 1) % len(names)]
        weights[top] = round(weights[top] - amount, 3)
        weights[other] = round(weights[other] + amount, 3)
        return converse_response(
            f"Here you go:\n```json\n{json.dumps({**weights, 'reasoning': 'shifted'})}\n```"
        )

    return answer


def garbage(model_id: str, query: str, reference: dict[str, float] | None) -> dict[str, Any]:
    return converse_response("I am sorry, I cannot rate video search queries.")


class FakeRuntime:
    """bedrock-runtime with canned answers per model id; validates each Converse request.

    `delays` (seconds per model id) make client-side latency differ between models;
    `errors` maps a model id to a list of botocore ClientError codes raised on its first calls.
    """

    def __init__(
        self,
        answers: Mapping[str, Answer],
        references: Mapping[str, dict[str, float]],
        *,
        delays: Mapping[str, float] | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        self._answers = dict(answers)
        self._references = dict(references)
        self._delays = dict(delays or {})
        self._errors = {model: list(codes) for model, codes in (errors or {}).items()}
        self._shape = (
            boto3.client("bedrock-runtime", region_name="us-east-1")
            .meta.service_model.operation_model("Converse")
            .input_shape
        )
        self._lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._model_time = threading.local()

    def timer(self) -> float:
        """This thread's simulated clock (seconds): each call advances it by its model's delay.

        Pass it as the evaluation's `clock` where latency comparisons matter, so that the measured
        latencies are the configured delays, whatever the load of the machine.
        """
        return float(getattr(self._model_time, "seconds", 0.0))

    def converse(self, **request: Any) -> dict[str, Any]:
        validate_parameters(request, self._shape)
        model = request["modelId"]
        with self._lock:
            self.calls.append(request)
            self.in_flight[model] = self.in_flight.get(model, 0) + 1
            self.max_in_flight[model] = max(self.max_in_flight.get(model, 0), self.in_flight[model])
            code = self._errors.get(model, []).pop(0) if self._errors.get(model) else None
        try:
            if code:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": code, "Message": f"fake {code}"}}, "Converse")
            delay = self._delays.get(model, 0.0)
            time.sleep(delay)
            self._model_time.seconds = self.timer() + delay
            query = request["messages"][0]["content"][0]["text"]
            return self._answers[model](model, query, self._references.get(query))
        finally:
            with self._lock:
                self.in_flight[model] -= 1


def check_constraints(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What botocore's validator leaves out: max lengths/sizes, patterns and enums of the service model."""
    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if isinstance(value, dict) and name in value:
                problems += check_constraints(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items > max {meta['max']}")
        for index, item in enumerate(value):
            problems += check_constraints(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "string":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} characters > max {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
    return problems
