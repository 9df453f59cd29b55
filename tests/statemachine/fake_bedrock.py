"""A stand-in for Amazon Bedrock (control plane and runtime) in state-machine tests.

Every request is validated against botocore's service model (types, required members,
lengths) and Bedrock's name patterns, like a real client would be refused, so a wrong
parameter fails the test. Jobs and deployments are kept by name; their statuses follow
scripts the test sets. Teacher answers are generated from the prompt (count, focus and
themes), so each batch gets distinct queries. Thread-safe: the Map runs batches in parallel.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

ACCOUNT = "123456789012"
REGION = "us-east-1"
_COUNT = re.compile(r"Write (\d+) different")
_FOCUS = re.compile(r"queries where the (\w+) signal should clearly")
_THEMES = re.compile(r"Themes of this batch: (.*)\.\n")
_SIGNALS = re.compile(r"weighs the signal indexes ([a-z0-9_, ]+): ")


def foundation_model(
    model_id: str, *, legacy_until: datetime | None = None, distillable: bool = False
) -> dict:
    lifecycle: dict[str, Any] = {"status": "LEGACY" if legacy_until else "ACTIVE"}
    if legacy_until:
        lifecycle["endOfLifeTime"] = legacy_until
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
        "modelId": model_id,
        "customizationsSupported": ["FINE_TUNING", "DISTILLATION"] if distillable else [],
        "modelLifecycle": lifecycle,
    }


DEFAULT_MODELS = {
    "amazon.nova-pro-v1:0": foundation_model("amazon.nova-pro-v1:0", distillable=True),
    "amazon.nova-micro-v1:0:128k": foundation_model("amazon.nova-micro-v1:0:128k", distillable=True),
    "anthropic.claude-haiku-4-5-20251001-v1:0": foundation_model("anthropic.claude-haiku-4-5-20251001-v1:0"),
}


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeBedrock:
    """Answers both "bedrock" and "bedrock-runtime" calls; pass it for both services."""

    def __init__(self) -> None:
        self._control = boto3.client("bedrock", region_name=REGION).meta.service_model
        self._runtime = boto3.client("bedrock-runtime", region_name=REGION).meta.service_model
        self._lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.models: dict[str, dict] = dict(DEFAULT_MODELS)
        # Statuses returned by successive GetModelCustomizationJob / GetCustomModelDeployment calls
        # after creation; the last one repeats.
        self.job_statuses: list[str] = ["InProgress", "Completed"]
        self.job_failure_message = "Validation failed: the training data has records with too few tokens."
        self.deployment_statuses: list[str] = ["Creating", "Active"]
        self.deployment_failure_message = "Insufficient capacity for the deployment."
        self.throttle_converse = 0
        self.invalid_items_per_answer = 1
        # Teacher answers hold only invalid items while True (a teacher ignoring the format).
        self.teacher_garbage = False
        # prompt -> an exception to raise instead of answering (a transport fault), or None.
        self.teacher_fault: Callable[[str], Exception | None] | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self._queries = 0
        self.routing_answers = 0

    # ------------------------------------------------------------------ helpers

    def _record(self, model: Any, operation: str, params: dict[str, Any]) -> None:
        validate_parameters(params, model.operation_model(operation).input_shape)
        shape = model.operation_model(operation).input_shape
        for member, value in params.items():
            pattern = shape.members[member].metadata.get("pattern") if member in shape.members else None
            if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
                raise AssertionError(f"{operation}.{member}={value!r} does not match {pattern!r}")
        with self._lock:
            self.calls.append((operation, params))

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    # ------------------------------------------------------------------ bedrock (control plane)

    def get_foundation_model(self, **params: Any) -> dict:
        self._record(self._control, "GetFoundationModel", params)
        details = self.models.get(params["modelIdentifier"])
        if details is None:
            raise client_error("ResourceNotFoundException", "The model does not exist", "GetFoundationModel")
        return {"modelDetails": details}

    def create_model_customization_job(self, **params: Any) -> dict:
        self._record(self._control, "CreateModelCustomizationJob", params)
        with self._lock:
            if params["jobName"] in self.jobs:
                raise client_error("ConflictException", "job name taken", "CreateModelCustomizationJob")
            suffix = f"{len(self.jobs) + 1:012d}"
            base = params["baseModelIdentifier"]
            self.jobs[params["jobName"]] = {
                "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{base}/{suffix}",
                "jobName": params["jobName"],
                "outputModelName": params["customModelName"],
                "outputModelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{base}/{suffix}",
                "creationTime": datetime.now(UTC),
                "request": params,
                "polls": 0,
            }
            return {"jobArn": self.jobs[params["jobName"]]["jobArn"]}

    def get_model_customization_job(self, **params: Any) -> dict:
        self._record(self._control, "GetModelCustomizationJob", params)
        ident = params["jobIdentifier"]
        with self._lock:
            job = next((j for j in self.jobs.values() if ident in (j["jobArn"], j["jobName"])), None)
            if job is None:
                raise client_error("ResourceNotFoundException", "no such job", "GetModelCustomizationJob")
            status = self.job_statuses[min(job["polls"], len(self.job_statuses) - 1)]
            job["polls"] += 1
        response = {
            "jobArn": job["jobArn"],
            "jobName": job["jobName"],
            "outputModelName": job["outputModelName"],
            "status": status,
            "creationTime": job["creationTime"],
        }
        if status == "Completed":
            response["outputModelArn"] = job["outputModelArn"]
        if status in {"Failed", "Stopped"}:
            response["failureMessage"] = self.job_failure_message
        return response

    def create_custom_model_deployment(self, **params: Any) -> dict:
        self._record(self._control, "CreateCustomModelDeployment", params)
        with self._lock:
            name = params["modelDeploymentName"]
            if name in self.deployments:
                raise client_error(
                    "ValidationException", "deployment name taken", "CreateCustomModelDeployment"
                )
            self.deployments[name] = {
                "customModelDeploymentArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/"
                f"{len(self.deployments) + 1:012d}",
                "modelDeploymentName": name,
                "modelArn": params["modelArn"],
                "createdAt": datetime.now(UTC),
                "request": params,
                "polls": 0,
            }
            return {"customModelDeploymentArn": self.deployments[name]["customModelDeploymentArn"]}

    def get_custom_model_deployment(self, **params: Any) -> dict:
        self._record(self._control, "GetCustomModelDeployment", params)
        ident = params["customModelDeploymentIdentifier"]
        with self._lock:
            found = next(
                (
                    d
                    for d in self.deployments.values()
                    if ident in (d["customModelDeploymentArn"], d["modelDeploymentName"])
                ),
                None,
            )
            if found is None:
                raise client_error(
                    "ResourceNotFoundException", "no such deployment", "GetCustomModelDeployment"
                )
            status = self.deployment_statuses[min(found["polls"], len(self.deployment_statuses) - 1)]
            found["polls"] += 1
        response = {
            key: found[key]
            for key in ("customModelDeploymentArn", "modelDeploymentName", "modelArn", "createdAt")
        }
        response["status"] = status
        if status == "Failed":
            response["failureMessage"] = self.deployment_failure_message
        return response

    # ------------------------------------------------------------------ bedrock-runtime

    def converse(self, **params: Any) -> dict:
        self._record(self._runtime, "Converse", params)
        with self._lock:
            if self.throttle_converse > 0:
                self.throttle_converse -= 1
                raise client_error("ThrottlingException", "Too many requests, please wait", "Converse")
            prompt = params["messages"][0]["content"][0]["text"]
            count_match = _COUNT.search(prompt)
            if count_match is None:  # not a teacher batch: a candidate answering a routing query (Evaluate)
                return self._routing_answer(prompt)
            fault = self.teacher_fault(prompt) if self.teacher_fault else None
            if fault is not None:
                raise fault
            count = int(count_match.group(1))
            start = self._queries
            self._queries += count
        signals = _SIGNALS.search(params["system"][0]["text"]).group(1).split(", ")
        focus_match = _FOCUS.search(prompt)
        focus = focus_match.group(1) if focus_match else None
        theme = _THEMES.search(prompt).group(1).split(", ")[0]
        items: list[dict[str, Any]] = []
        for number in range(start, start + (0 if self.teacher_garbage else count)):
            weights = {name: 0.1 for name in signals}
            weights[focus or signals[number % len(signals)]] = 0.7 if focus else 0.4
            items.append({"query": f"{theme} clip number {number}", **weights, "reasoning": "Test label."})
        items.extend(
            {"query": f"broken {n}", "reasoning": "no weights"} for n in range(self.invalid_items_per_answer)
        )
        text = "Here are the examples:\n```json\n" + json.dumps(items) + "\n```"
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 400, "outputTokens": 90 * count, "totalTokens": 400 + 90 * count},
            "metrics": {"latencyMs": 1000},
        }

    def _routing_answer(self, query: str) -> dict:
        """A clean routing decision, the heuristic's, so the evaluation steps have answers to score."""
        from routing import heuristic_decision

        self.routing_answers += 1
        text = json.dumps(heuristic_decision(query).to_dict())
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 60, "outputTokens": 40, "totalTokens": 100},
            "metrics": {"latencyMs": 300},
        }
