"""The offline stand-in for ``boto3.client("bedrock-runtime")``: Converse, answered by simulation.

Converse recognises two kinds of prompt (:mod:`cdk_app.local.answers` writes the answers):

* teacher generation (the request asks for N labelled queries/examples as a JSON array): a JSON
  array of N varied video search queries, weighted by ``routing.heuristic_decision`` plus seeded
  noise, honouring a modality focus and difficulty named in the prompt;
* routing (the system prompt is ``routing.system_prompt(modalities)``): an answer whose quality
  depends on the model: a distilled deployment answers clean JSON close to the heuristic, the base
  student often wraps it in prose, fences or nesting, or is cut off (like the seed's recorded Nova
  Micro answers), the baseline answers clean JSON.

Anything else gets a labelled one-line answer. ``maxTokens`` is honoured (a longer answer is cut
with ``stopReason`` ``max_tokens``); tokens are estimated from text length; ``metrics.latencyMs``
is simulated per model (seeded, so deterministic) and nothing sleeps. Client-side timings come
from :meth:`OfflineBedrockRuntime.timer`, a per-thread simulated clock that each Converse call
advances by its simulated latency. Each answer derives from the seed and the request itself (not
from call order), so concurrent callers and retries get the same answer.

A test may script (:class:`cdk_app.local.account.Script`) throttling, transport faults, defective
teacher answers, and per model id: its answers to routing prompts (any id: a scripted model is not
looked up), the seconds its calls take on the simulated clock and the error codes its first calls
raise (the real client's modeled exceptions, with the status code of the service model). The call
log records each Converse call's kind ("teacher", "routing" or "other"); the account counts the
calls in flight per model id (``in_flight``, ``max_in_flight``).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from cdk_app.local.answers import (
    OFFLINE_LABEL,
    PROFILES,
    TEACHER_LATENCY,
    estimate_tokens,
    routing_answer,
    routing_modalities,
    seed_of,
    teacher_answer,
    teacher_request,
)
from cdk_app.local.catalogue import foundation_id, inference_profile_id, split_profile
from cdk_app.local.client import OfflineClient

__all__ = ["OfflineBedrockRuntime"]


class OfflineBedrockRuntime(OfflineClient):
    """Stand-in for ``boto3.client("bedrock-runtime")``: Converse only (see the module docstring)."""

    _service = "bedrock-runtime"
    _serialise = False

    def converse(self, **params: Any) -> dict[str, Any]:
        return self._call("Converse", params, self._converse, kind=_prompt_kind)

    def timer(self) -> float:
        """This thread's simulated clock, in seconds: each Converse call advances it by its ``latencyMs``.

        A drop-in for ``time.perf_counter`` when timing calls made from the same thread, so a
        caller's measured latency is exactly the simulated one.
        """
        return float(getattr(self.account.model_time, "seconds", 0.0))

    def _converse(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.account.converse_in_flight(request["modelId"]):
            return self._answer(request)

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.account.take_throttle():
            raise self._error(
                "Converse", "ThrottlingException", "Too many requests, please wait before trying again.", 429
            )
        model_id = request["modelId"]
        code = self.account.take_converse_error(model_id)
        if code is not None:
            raise self._error("Converse", code, f"{OFFLINE_LABEL} scripted {code}", self._status_of(code))
        system, user = _prompt_text(request)
        scripted = self.account.script.routing_answers.get(model_id)
        if scripted is not None and routing_modalities(system) is not None:
            response = dict(scripted(_routing_query(request)))
            self._advance_clock(model_id, response["metrics"]["latencyMs"])
            return response
        kind = self._model_kind(model_id)
        seed = seed_of(
            self.account.settings.seed,
            request["modelId"],
            system,
            json.dumps(request["messages"], sort_keys=True),
        )
        rng = random.Random(seed)
        teacher = teacher_request(system, user)
        stop_reason = "end_turn"
        if teacher is not None:
            script = self.account.script
            fault = script.teacher_fault(user) if script.teacher_fault else None
            if fault is not None:
                raise fault
            variety = random.Random(seed_of(seed, "variety"))
            text = teacher_answer(rng, teacher, script.teacher_defect_rate, variety)
            latency_profile = TEACHER_LATENCY
        else:
            names = routing_modalities(system)
            if names is not None:
                profile = PROFILES[kind]
                text, stop_reason = routing_answer(rng, profile, _routing_query(request).strip(), names)
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
        self._advance_clock(model_id, latency_ms)
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

    def _advance_clock(self, model_id: str, latency_ms: float) -> None:
        """This thread's simulated clock moves on by the call's latency, or by the script's delay for the model."""
        seconds = self.account.script.converse_delays.get(model_id, latency_ms / 1000.0)
        self.account.model_time.seconds = self.timer() + seconds

    def _status_of(self, code: str) -> int:
        """The HTTP status Bedrock answers an error code with (the service model's), 400 for codes it does not model."""
        if code not in {shape.name for shape in self._service_model.error_shapes}:
            return 400
        return int(self._service_model.shape_for(code).metadata["error"]["httpStatusCode"])

    def _model_kind(self, model_id: str) -> str:
        """Which answer profile a model id gets; raises Bedrock's error for ids it would refuse."""
        operation = "Converse"
        if ":custom-model-deployment/" in model_id:
            with self.account.lock:
                deployment = self.account.deployments.get(model_id)
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
        geography, model_name = split_profile(
            inference_profile_id(foundation_id(model_id)), self.account.foundation_models
        )
        model = self.account.foundation_models.get(model_name)
        if model is None:
            raise self._error(operation, "ValidationException", "The provided model identifier is invalid.")
        if geography is None and "ON_DEMAND" not in model.inference_types:
            raise self._error(
                operation,
                "ValidationException",
                f"Invocation of model ID {model_name} with on-demand throughput isn't supported. Retry your request "
                "with the ID or ARN of an inference profile that contains this model.",
            )
        if model.end_of_life and self.account.clock() >= model.end_of_life:
            raise self._error(
                operation, "ResourceNotFoundException", f"Model {model_name} has reached end of life.", 404
            )
        if "micro" in model_name or "lite" in model_name:
            return "student"
        if "claude" in model_name:
            return "baseline"
        return "large"


def _prompt_text(request: dict[str, Any]) -> tuple[str, str]:
    """(system prompt, user turns) of a Converse request, as text."""
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
    return system, user


def _routing_query(request: dict[str, Any]) -> str:
    """The query of a routing request: the text of its last user turn."""
    last_user = request["messages"][-1]
    return " ".join(
        block.get("text", "") for block in last_user.get("content", []) if isinstance(block, dict)
    )


def _prompt_kind(request: dict[str, Any]) -> str:
    """What the call log records a Converse call as: "teacher", "routing" or "other"."""
    system, user = _prompt_text(request)
    if teacher_request(system, user) is not None:
        return "teacher"
    return "routing" if routing_modalities(system) is not None else "other"
