"""One simulated Bedrock account of the offline stand-in: its resources, its test script and its call log.

Both stand-in clients (``bedrock`` and ``bedrock-runtime``, :mod:`cdk_app.local.bedrock`) share one
:class:`OfflineAccount`, as two real clients share one AWS account. It holds:

* the settings (:class:`OfflineSettings`): seed, region, account id, lifecycle lengths;
* the control plane's resources (customization jobs, custom models, deployments, evaluation jobs)
  and the foundation-model catalogue, behind one lock;
* the script (:class:`Script`): what a test makes the stand-in do instead of its simulation
  (scripted job and deployment statuses over polls, throttling, transport faults, defective
  teacher answers, failing operations, the judge's scores, a model's routing answers, its
  latency and its first errors); every default is "simulate";
* the call log (:class:`Call`): every request that passed the client's parameter validation, in
  order, so a test can check what was asked of Bedrock and how often; beside it the Converse
  calls in flight per model id, now and at most (``in_flight``, ``max_in_flight``), so a test
  can check a concurrency bound.

Reach it from either client as ``client.account``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdk_app.local.catalogue import FOUNDATION_MODELS, FoundationModel

__all__ = [
    "DEFAULT_ACCOUNT",
    "Call",
    "CustomModel",
    "Deployment",
    "EvaluationJob",
    "Job",
    "OfflineAccount",
    "OfflineSettings",
    "Script",
]

DEFAULT_ACCOUNT = "123456789012"  # moto's default account, so ARNs line up with the mocked services


@dataclass(frozen=True, slots=True)
class OfflineSettings:
    """How the stand-in simulates. Defaults suit tests: quick lifecycles."""

    seed: int = 0
    region: str = "us-east-1"
    account: str = DEFAULT_ACCOUNT
    # Get calls that still report the in-progress status before a resource is done.
    job_polls: int = 2
    deployment_polls: int = 1
    evaluation_polls: int = 1

    def __post_init__(self) -> None:
        for name in ("job_polls", "deployment_polls", "evaluation_polls"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass
class Script:
    """What a test makes the stand-in do instead of simulating; change it at any time (between runs too)."""

    # Statuses successive GetModelCustomizationJob calls report after the create, the last one
    # repeating. None: InProgress for `job_polls` reads, then Completed (Failed when the training
    # file breaks Bedrock's dataset rules).
    job_statuses: list[str] | None = None
    # The failureMessage of a job scripted to fail.
    job_failure_message: str = "Validation failed: the training data has records with too few tokens."
    # Statuses successive GetCustomModelDeployment calls report; None: Creating for `deployment_polls`.
    deployment_statuses: list[str] | None = None
    deployment_failure_message: str = "Insufficient capacity for the deployment."
    # Converse calls still to refuse with ThrottlingException (counts down to 0).
    throttle_converse: int = 0
    # The user prompt of a teacher request -> an exception to raise instead of answering (a transport
    # fault such as botocore's ReadTimeoutError), or None to answer.
    teacher_fault: Callable[[str], BaseException | None] | None = None
    # Share of teacher items written without weights, which the parser must drop (1.0: a teacher
    # ignoring the format, 0: every item usable).
    teacher_defect_rate: float = 0.0
    # Operation name -> (error code, message): every accepted call of it fails with that modeled
    # error (e.g. {"CreateEvaluationJob": ("AccessDeniedException", "no judge access")}).
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    # A judge input record -> the judge's score on its 1-5 scale, instead of the rubric plus seeded
    # disagreement (the record carries what the evaluation wrote, e.g. its candidate's `category`).
    judge_opinion: Callable[[Mapping[str, Any]], float] | None = None
    # Model id -> its answer to a routing prompt: the query -> a Converse response body (output,
    # stopReason, usage, metrics), instead of the simulated answer. A model answered this way is
    # not looked up, so it need not exist in the account (any id the client accepts will do).
    routing_answers: dict[str, Callable[[str], dict[str, Any]]] = field(default_factory=dict)
    # Model id -> seconds each of its answered Converse calls advances the runtime's simulated clock
    # (OfflineBedrockRuntime.timer), instead of the answer's metrics.latencyMs. Nothing sleeps.
    converse_delays: dict[str, float] = field(default_factory=dict)
    # Model id -> error codes its next Converse calls raise, one per call, in order (consumed like
    # `throttle_converse`), e.g. {"us.amazon.nova-pro-v1:0": ["ServiceUnavailableException"]}.
    converse_errors: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.teacher_defect_rate <= 1.0:
            raise ValueError("teacher_defect_rate must be within [0, 1]")


@dataclass(slots=True)
class Call:
    """One request the stand-in accepted: it passed the real client's parameter validation."""

    operation: str
    request: dict[str, Any]
    # Converse only, once the prompt is recognised: "teacher", "routing" or "other".
    kind: str | None = None


@dataclass
class Job:
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
class CustomModel:
    arn: str
    name: str
    job: Job
    created: datetime


@dataclass
class Deployment:
    arn: str
    name: str
    token: str
    model_arn: str
    description: str | None
    created: datetime
    reads: int = 0
    status: str = "Creating"
    updated: datetime | None = None
    failure: str | None = None


@dataclass
class EvaluationJob:
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


class OfflineAccount:
    """What both clients share: settings, resources (behind one lock), the script and the call log."""

    def __init__(
        self,
        settings: OfflineSettings,
        s3: Any,
        clock: Callable[[], datetime],
        script: Script | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.clock = clock
        self.script = script or Script()
        self.lock = threading.RLock()
        # Simulated seconds of model time spent by each thread's Converse calls (OfflineBedrockRuntime.timer).
        self.model_time = threading.local()
        self.foundation_models: dict[str, FoundationModel] = dict(FOUNDATION_MODELS)
        self.jobs: dict[str, Job] = {}
        self.custom_models: dict[str, CustomModel] = {}
        self.deployments: dict[str, Deployment] = {}
        self.evaluations: dict[str, EvaluationJob] = {}
        self.calls: list[Call] = []
        # Converse calls of each model id under way now, and the most there ever were at once.
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ identifiers

    def resource_id(self, kind: str, name: str) -> str:
        """12 lowercase alphanumerics, stable for (seed, kind, name): Bedrock's id alphabet."""
        digest = hashlib.sha256(f"{self.settings.seed}\x00{kind}\x00{name}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[byte % len(alphabet)] for byte in digest[:12])

    def arn(self, resource: str) -> str:
        return f"arn:aws:bedrock:{self.settings.region}:{self.settings.account}:{resource}"

    # ------------------------------------------------------------------ call log and script

    def record(self, operation: str, request: dict[str, Any]) -> Call:
        call = Call(operation, request)
        with self._log_lock:
            self.calls.append(call)
        return call

    def count(self, operation: str, kind: str | None = None) -> int:
        """Accepted calls of `operation` (of one Converse `kind` when given)."""
        with self._log_lock:
            return sum(1 for call in self.calls if call.operation == operation and kind in (None, call.kind))

    @property
    def routing_answers(self) -> int:
        """Converse calls answered as a routing model (a candidate answering a held-out query)."""
        return self.count("Converse", "routing")

    def take_throttle(self) -> bool:
        """True (and one fewer to go) while the script still throttles Converse calls."""
        with self._log_lock:
            if self.script.throttle_converse <= 0:
                return False
            self.script.throttle_converse -= 1
            return True

    def take_converse_error(self, model_id: str) -> str | None:
        """The next error code the script makes a Converse call of `model_id` raise (consumed), if any."""
        with self._log_lock:
            codes = self.script.converse_errors.get(model_id)
            return codes.pop(0) if codes else None

    @contextmanager
    def converse_in_flight(self, model_id: str) -> Iterator[None]:
        """Counts one Converse call of `model_id` in flight while the block runs."""
        with self._log_lock:
            count = self.in_flight.get(model_id, 0) + 1
            self.in_flight[model_id] = count
            self.max_in_flight[model_id] = max(self.max_in_flight.get(model_id, 0), count)
        try:
            yield
        finally:
            with self._log_lock:
                self.in_flight[model_id] -= 1
