"""Run the pipeline's state machine definition locally: moto executes it, the step handlers run in process.

This is the harness of the state-machine tests (tests/statemachine/) and of the operator's
local dry run. It runs the real definition (statemachine/pipeline.asl.json) with moto 5's
Step Functions interpreter, so Map, Choice, Wait, Retry/Catch, intrinsic functions and the
`lambda:invoke` and `sns:publish` integrations behave as written; only Lambda is replaced:
each invocation calls the step's Python handler in this process.

    from cdk_app.local.pipeline import LocalPipeline, load_step_handlers
    from stacks.constructs.pipeline_definition import load_definition, render
    from routing.clients import override_clients

    with LocalPipeline(load_step_handlers(), environment=env) as local, \\
            override_clients({"bedrock": stand_in, "bedrock-runtime": stand_in}):
        topic = local.create_topic()
        local.create_bucket(env["DATA_BUCKET"])
        definition = render(load_definition(), local.substitutions(topic))
        result = local.run(definition, {"examples": 300}, name="dry-run-1", on_event=print)
        result.status, result.output, result.states_entered(), local.notifications()

Seams:
- Bedrock is whatever the handlers get from `routing.clients.client(...)`: wrap the
  run in `override_clients({...})` to hand in a stand-in, the offline one of
  `cdk_app.local.bedrock.offline_clients(s3=local.s3)` for the dry run and the tests (S3 and
  SNS are moto's);
- `environment` sets the handlers' environment variables for the duration of the block;
- Wait states take the seconds the input gives (`{"wait_seconds": {"job": 0, ...}}`);
  Retry back-off is not slept by default (`skip_retry_delays`), the delays asked for are
  recorded in `retry_delays`.

moto internals patched here (and only here, never in product code): the simple Lambda
backend's `invoke` (documented in DESIGN.md "Recipes") and the `time` module the ASL
retrier sleeps with. Checked with moto 5.2.5: Map (inline, MaxConcurrencyPath,
ItemSelector, ResultSelector with States.ArrayLength), `lambda:invoke` with
`Payload.$`/ResultSelector, Wait with SecondsPath, Choice, Retry with MaxDelaySeconds and
JitterStrategy, Catch, Fail with ErrorPath/CausePath and `sns:publish` all execute.
Variables (`Assign`, `$name`) do not: moto evaluates them with JSONata, which it cannot
run here, so the definition names the failed step with one Pass state per step instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda_simple import models as lambda_simple
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from stacks.constructs.pipeline_definition import (
    PREFIX_SUBSTITUTION,
    STEP_FUNCTIONS,
    TOPIC_SUBSTITUTION,
    function_substitution,
)

Handler = Callable[[dict[str, Any], Any], Any]

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
REGION = "us-east-1"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# Step Functions' limit on a state's input or output (and so on a task's result).
MAX_STATE_PAYLOAD_BYTES = 256 * 1024
DATA_LIMIT_ERROR = "DataLimitExceeded"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/local-pipeline"


@dataclass(frozen=True)
class LocalLambdaContext:
    """The attributes of a Lambda context object that Powertools and the handlers read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@dataclass(frozen=True)
class Invocation:
    """One in-process Lambda invocation, as the harness saw it."""

    function: str
    payload: dict[str, Any]
    response_bytes: int
    error: str | None
    seconds: float


@dataclass
class ExecutionResult:
    """Where an execution ended, and how it got there."""

    execution_arn: str
    name: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    invocations: list[Invocation] = field(default_factory=list)

    def states_entered(self) -> list[str]:
        """Names of the states entered, in order (Map iterations included)."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history
            if "stateEnteredEventDetails" in event
        ]

    def invocations_of(self, function: str) -> list[Invocation]:
        return [item for item in self.invocations if item.function == function]

    def max_payload_bytes(self) -> int:
        """The largest state input or output, task result or Map item in the history."""
        largest = 0
        for event in self.history:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for name in ("input", "output"):
                        if isinstance(details.get(name), str):
                            largest = max(largest, len(details[name].encode()))
        return largest


class LocalPipeline:
    """A moto sandbox (Step Functions, Lambda, S3, SNS, SQS) that runs definitions with in-process handlers.

    `handlers` maps a function name (the last part of the function ARN in the definition)
    to a Python handler `handler(event, context)`. Use as a context manager.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        environment: Mapping[str, str] | None = None,
        region: str = REGION,
        skip_retry_delays: bool = True,
    ) -> None:
        self.handlers = dict(handlers)
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self.invocations: list[Invocation] = []
        self.retry_delays: list[float] = []
        self._environment = dict(environment or {})
        self._skip_retry_delays = skip_retry_delays
        self._stack = ExitStack()
        self._queues: dict[str, str] = {}
        self._notifications: list[dict[str, Any]] = []
        self._first_invocation: dict[str, int] = {}
        # Lambda runs one invocation at a time per container; here every function shares one
        # process (one Powertools logger, one module state), while moto runs Map iterations on
        # threads. Invocations take turns, as each would in its own container: otherwise one
        # handler's `clear_state` wipes another's `run_id` mid-invocation.
        self._one_invocation_at_a_time = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalPipeline:
        stack = self._stack
        stack.enter_context(
            mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": self.region, **self._environment})
        )
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        harness = self

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ):
            return harness._invoke(function_name, body, response_headers)

        stack.enter_context(mock.patch.object(lambda_simple.LambdaSimpleBackend, "invoke", invoke))
        if self._skip_retry_delays:
            stack.enter_context(
                mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=self.retry_delays.append))
            )
        self.sfn = boto3.client("stepfunctions", region_name=self.region)
        self.s3 = boto3.client("s3", region_name=self.region)
        self.sns = boto3.client("sns", region_name=self.region)
        self.sqs = boto3.client("sqs", region_name=self.region)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    # ------------------------------------------------------------------ resources

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def substitutions(self, topic_arn: str, prefix: str = "vsr-local") -> dict[str, str]:
        """DefinitionSubstitutions for the pipeline definition, pointing at this sandbox."""
        values = {
            function_substitution(step): self.function_arn(folder) for step, folder in STEP_FUNCTIONS.items()
        }
        values[TOPIC_SUBSTITUTION] = topic_arn
        values[PREFIX_SUBSTITUTION] = prefix
        return values

    def create_bucket(self, name: str) -> str:
        self.s3.create_bucket(Bucket=name)
        return name

    def create_topic(self, name: str = "vsr-local-runs") -> str:
        """An SNS topic whose messages `notifications()` returns (through a subscribed SQS queue)."""
        topic_arn = self.sns.create_topic(Name=name)["TopicArn"]
        queue_url = self.sqs.create_queue(QueueName=f"{name}-capture")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self._queues[topic_arn] = queue_url
        return topic_arn

    def notifications(self) -> list[dict[str, Any]]:
        """Every message published so far to topics made by `create_topic`: {"topic", "subject", "message"}."""
        for topic_arn, queue_url in self._queues.items():
            while True:
                messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
                if not messages:
                    break
                for message in messages:
                    body = json.loads(message["Body"])
                    self._notifications.append(
                        {"topic": topic_arn, "subject": body.get("Subject"), "message": body.get("Message")}
                    )
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._notifications)

    # ------------------------------------------------------------------ executions

    def create_state_machine(self, definition: str, name: str = "vsr-local-pipeline") -> str:
        return self.sfn.create_state_machine(name=name, definition=definition, roleArn=_ROLE_ARN)[
            "stateMachineArn"
        ]

    def start(self, state_machine_arn: str, execution_input: Any, name: str | None = None) -> str:
        # Invocations from here on belong to this execution (its result lists them).
        first_invocation = len(self.invocations)
        arn = self.sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=name or f"local-{uuid.uuid4().hex[:12]}",
            input=json.dumps(execution_input),
        )["executionArn"]
        self._first_invocation[arn] = first_invocation
        return arn

    def wait(
        self,
        execution_arn: str,
        *,
        timeout: float = 120.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecutionResult:
        """Poll until the execution ends (TimeoutError after `timeout` s); `on_event` sees each history event once."""
        deadline = time.monotonic() + timeout
        seen = 0
        first_invocation = self._first_invocation.get(execution_arn, 0)
        # Short executions end within milliseconds; long ones should not be slowed by polling.
        pause = 0.01
        while True:
            description = self.sfn.describe_execution(executionArn=execution_arn)
            if on_event is not None:
                events = self._history(execution_arn)
                for event in events[seen:]:
                    on_event(event)
                seen = len(events)
            if description["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"execution {execution_arn} still {description['status']} after {timeout} s"
                )
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
        history = self._history(execution_arn)
        if on_event is not None:
            for event in history[seen:]:
                on_event(event)
        output = description.get("output")
        return ExecutionResult(
            execution_arn=execution_arn,
            name=description["name"],
            status=description["status"],
            output=json.loads(output) if output else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=history,
            invocations=self.invocations[first_invocation:],
        )

    def run(
        self,
        definition: str,
        execution_input: Any,
        *,
        name: str | None = None,
        state_machine_name: str = "vsr-local-pipeline",
        timeout: float = 120.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecutionResult:
        """Create (or reuse) the state machine, start one execution and wait for its end."""
        arn = f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{state_machine_name}"
        try:
            self.sfn.describe_state_machine(stateMachineArn=arn)
        except self.sfn.exceptions.StateMachineDoesNotExist:
            arn = self.create_state_machine(definition, state_machine_name)
        else:
            self.sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        return self.wait(self.start(arn, execution_input, name), timeout=timeout, on_event=on_event)

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.sfn.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    # ------------------------------------------------------------------ Lambda

    def _invoke(self, function_ref: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        """What Lambda would return: the handler's JSON result, or a function error shaped like Lambda's."""
        name = function_ref.split(":function:")[-1].split(":")[0]
        payload = json.loads(body or b"{}")
        started = time.perf_counter()
        handler = self.handlers.get(name)
        error: str | None = None
        if handler is None:
            error, result = (
                "HarnessError",
                _error("HarnessError", f"no handler for function {name!r}: {sorted(self.handlers)}"),
            )
        else:
            context = LocalLambdaContext(
                function_name=name,
                invoked_function_arn=self.function_arn(name),
                aws_request_id=str(uuid.uuid4()),
            )
            try:
                with self._one_invocation_at_a_time:
                    result = handler(payload, context)
            except Exception as exc:  # a Lambda function error: Step Functions sees the exception's name
                error, result = type(exc).__name__, _error(type(exc).__name__, str(exc), exc)
        encoded = json.dumps(result, default=str).encode()
        if error is None and len(encoded) > MAX_STATE_PAYLOAD_BYTES:
            # Step Functions would fail the task with States.DataLimitExceeded, a name moto does not
            # let a Lambda error take: the harness reports it under its own name.
            error = DATA_LIMIT_ERROR
            message = (
                f"{name} returned {len(encoded)} bytes; Step Functions accepts {MAX_STATE_PAYLOAD_BYTES} "
                "(States.DataLimitExceeded)"
            )
            encoded = json.dumps(_error(error, message)).encode()
        if error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        self.invocations.append(Invocation(name, payload, len(encoded), error, time.perf_counter() - started))
        return encoded


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    trace = traceback.format_exception(exc)[-3:] if exc is not None else []
    return {"errorType": error_type, "errorMessage": message, "stackTrace": [line.rstrip() for line in trace]}


# ---------------------------------------------------------------------- the product's handlers


def load_step_handlers(steps: Mapping[str, str] = STEP_FUNCTIONS) -> dict[str, Handler]:
    """The pipeline's Lambda handlers (lambdas/<folder>/handler.py), keyed by folder name.

    Every folder's module is called `handler`, so each is loaded under its own name; the
    shared core (`routing`) is imported from lambdas/ as the Lambda layer provides it.
    """
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    # Powertools needs a metrics namespace to flush metrics outside Lambda.
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "vsr-local")
    return {folder: _load(folder).handler for folder in steps.values()}


def _load(folder: str) -> ModuleType:
    module_name = f"_pipeline_step_{folder}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, LAMBDAS_DIR / folder / "handler.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load lambdas/{folder}/handler.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
