"""Shared helpers of the evaluation tests: handler loading, canned Bedrock answers, held-out data.

`FakeRuntime` is the offline stand-in's runtime (`cdk_app.local`) scripted with canned answers;
the stand-in validates every request against botocore's service model (the same check a
Stubber makes) and Bedrock's constraints, so a test that passes through it also proves the
request shapes.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from cdk_app.local.account import OfflineAccount, OfflineSettings, Script
from cdk_app.local.runtime import OfflineBedrockRuntime

REPO = Path(__file__).resolve().parents[1]
MODALITIES = ["visual", "audio", "transcription", "metadata"]
DEPLOYMENT_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
STUDENT_ID = "amazon.nova-micro-v1:0"
BASELINE_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
JUDGE_ID = "us.amazon.nova-pro-v1:0"
ROLE_ARN = "arn:aws:iam::123456789012:role/vsr-evaluation"
# The most a FakeRuntime call with a delay stays in flight for real: long enough for concurrent calls to overlap.
_REAL_OVERLAP_SECONDS = 0.01

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


class FakeRuntime(OfflineBedrockRuntime):
    """bedrock-runtime answering routing prompts with canned answers per model id: the offline stand-in, scripted.

    Each model id of `answers` answers with its function of (model id, query, the query's entry in
    `references`), through :attr:`cdk_app.local.account.Script.routing_answers`, so every request is
    checked by the stand-in's client (botocore's validation, Bedrock's constraints) and logged.
    `delays` (seconds per model id) are the calls' latencies on the simulated clock :meth:`timer`
    (0 for a model without one), so latency comparisons timed with it cannot flip under load; a call
    with a delay also stays in flight for real for up to 10 ms, so that concurrent calls overlap and
    `max_in_flight` shows the concurrency bound. `errors` maps a model id to the botocore ClientError
    codes its first calls raise.
    """

    def __init__(
        self,
        answers: Mapping[str, Answer],
        references: Mapping[str, dict[str, float]],
        *,
        delays: Mapping[str, float] | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        delays = {**dict.fromkeys(answers, 0.0), **(delays or {})}
        references = dict(references)

        def scripted(model_id: str, answer: Answer) -> Callable[[str], dict[str, Any]]:
            overlap = min(delays[model_id], _REAL_OVERLAP_SECONDS)

            def respond(query: str) -> dict[str, Any]:
                time.sleep(overlap)
                return answer(model_id, query, references.get(query))

            return respond

        script = Script(
            routing_answers={model_id: scripted(model_id, answer) for model_id, answer in answers.items()},
            converse_delays=delays,
            converse_errors={model_id: list(codes) for model_id, codes in (errors or {}).items()},
        )
        super().__init__(OfflineAccount(OfflineSettings(), None, lambda: datetime.now(UTC), script))

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The Converse requests accepted so far, in order."""
        return [call.request for call in self.account.calls if call.operation == "Converse"]

    @property
    def max_in_flight(self) -> dict[str, int]:
        """Model id -> the most of its Converse calls that were in flight at once."""
        return dict(self.account.max_in_flight)
