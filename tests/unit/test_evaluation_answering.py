"""Candidates answering through Converse: request shape, retries, time budget, bounded concurrency."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from routing import LabelledExample, RoutingDecision, system_prompt
from routing.evaluation.answering import (
    BACKOFF_CAP_SECONDS,
    MAX_ATTEMPTS,
    Candidate,
    InferenceSettings,
    _OutOfTime,
    answer_all,
    call_with_retries,
    on_demand_model_id,
    pending_work,
)

from tests.evaluation_support import MODALITIES, FakeRuntime, converse_response, exact, reference_by_query

SETTINGS = InferenceSettings(system_prompt=system_prompt(MODALITIES), max_tokens=1000)


def _runtime():
    return boto3.client("bedrock-runtime", region_name="us-east-1")


def test_request_shape_is_valid_for_converse() -> None:
    runtime = _runtime()
    request = SETTINGS.request("amazon.nova-micro-v1:0", "dog barking at night", {"run_id": "run-1"})
    assert request["system"] == [{"text": system_prompt(MODALITIES)}]
    assert request["inferenceConfig"] == {"maxTokens": 1000, "temperature": 0.0}
    with Stubber(runtime) as stub:
        stub.add_response(
            "converse", converse_response('{"visual": 1}', latency_ms=321), expected_params=request
        )
        outcome = call_with_retries(runtime, request, should_stop=lambda: False)
    answer = outcome.answer
    assert answer.text == '{"visual": 1}'
    assert (answer.input_tokens, answer.output_tokens, answer.server_latency_ms) == (60, 40, 321.0)
    assert answer.latency_ms is not None and answer.latency_ms >= 0
    assert outcome.error is None and outcome.attempts == 1


def test_throttling_is_retried_with_capped_backoff() -> None:
    runtime = _runtime()
    request = SETTINGS.request("amazon.nova-micro-v1:0", "q", {})
    sleeps: list[float] = []
    with Stubber(runtime) as stub:
        stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
        stub.add_client_error("converse", "ServiceUnavailableException", http_status_code=503)
        stub.add_response("converse", converse_response("{}"))
        outcome = call_with_retries(runtime, request, should_stop=lambda: False, sleep=sleeps.append,
                                    jitter=lambda low, high: high)  # fmt: skip
    assert outcome.attempts == 3 and outcome.error is None
    assert sleeps == [0.5, 1.0]


def test_retries_end_after_max_attempts_and_the_error_is_recorded() -> None:
    runtime = _runtime()
    sleeps: list[float] = []
    with Stubber(runtime) as stub:
        for _ in range(MAX_ATTEMPTS):
            stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
        outcome = call_with_retries(runtime, SETTINGS.request("m.x-v1:0", "q", {}), should_stop=lambda: False,
                                    sleep=sleeps.append, jitter=lambda low, high: high)  # fmt: skip
    assert outcome.attempts == MAX_ATTEMPTS
    assert outcome.answer is None and outcome.error.startswith("ThrottlingException")
    assert max(sleeps) == BACKOFF_CAP_SECONDS


def test_a_client_error_is_not_retried() -> None:
    runtime = _runtime()
    with Stubber(runtime) as stub:
        stub.add_client_error("converse", "ValidationException", "model does not support on-demand")
        outcome = call_with_retries(runtime, SETTINGS.request("m.x-v1:0", "q", {}), should_stop=lambda: False)
    assert outcome.attempts == 1
    assert outcome.error.startswith("ValidationException")


def test_out_of_time_stops_before_calling() -> None:
    with pytest.raises(_OutOfTime):
        call_with_retries(object(), {}, should_stop=lambda: True)


def test_on_demand_model_id_drops_the_context_window_suffix() -> None:
    assert on_demand_model_id("amazon.nova-micro-v1:0:128k") == "amazon.nova-micro-v1:0"
    assert (
        on_demand_model_id("us.anthropic.claude-haiku-4-5-20251001-v1:0")
        == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    )
    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc"
    assert on_demand_model_id(arn) == arn


def _examples(count: int) -> list[LabelledExample]:
    references = reference_by_query(count)
    return [
        LabelledExample(query, RoutingDecision.from_weights(weights)) for query, weights in references.items()
    ]


def test_concurrency_is_bounded_per_model_and_every_query_is_answered() -> None:
    examples = _examples(12)
    candidates = [Candidate("distilled", "model-a.v1"), Candidate("baseline", "model-b.v1")]
    runtime = FakeRuntime({"model-a.v1": exact, "model-b.v1": exact}, reference_by_query(12),
                          delays={"model-a.v1": 0.01, "model-b.v1": 0.01})  # fmt: skip
    finished: list[tuple[str, int]] = []
    count = answer_all(runtime, pending_work(candidates, examples, set()), SETTINGS, concurrency=3,
                       should_stop=lambda: False, on_finished=lambda c, i, e, o: finished.append((c.name, i)),
                       metadata={"run_id": "r"})  # fmt: skip
    assert count == 24
    assert sorted(finished) == sorted((c.name, i) for c in candidates for i in range(12))
    assert runtime.max_in_flight == {"model-a.v1": 3, "model-b.v1": 3}
    assert {call["requestMetadata"]["candidate"] for call in runtime.calls} == {"distilled", "baseline"}


def test_work_left_when_the_budget_ends_is_not_reported() -> None:
    examples = _examples(10)
    candidates = [Candidate("distilled", "model-a.v1")]
    runtime = FakeRuntime({"model-a.v1": exact}, reference_by_query(10))
    calls = iter(range(1000))
    finished: list[int] = []
    count = answer_all(runtime, pending_work(candidates, examples, set()), SETTINGS, concurrency=1,
                       should_stop=lambda: next(calls) >= 4, on_finished=lambda c, i, e, o: finished.append(i),
                       metadata={})  # fmt: skip
    assert count == len(finished) == 4
    assert finished == [0, 1, 2, 3]


def test_pending_work_is_query_major_and_skips_done() -> None:
    examples = _examples(2)
    candidates = [Candidate("distilled", "a.b"), Candidate("baseline", "c.d")]
    work = pending_work(candidates, examples, {("distilled", 0)})
    assert [(c.name, i) for c, i, _ in work] == [("baseline", 0), ("distilled", 1), ("baseline", 1)]


def test_calls_are_timed_with_the_clock_given_so_a_simulated_clock_gives_its_latencies() -> None:
    # The dry run times calls with the offline stand-in's simulated clock: measured latency == simulated.
    from cdk_app.local.bedrock import offline_clients

    runtime = offline_clients(seed=1)["bedrock-runtime"]
    examples = _examples(6)
    candidates = [Candidate("baseline", "us.anthropic.claude-haiku-4-5-20251001-v1:0")]
    outcomes: list = []
    answer_all(runtime, pending_work(candidates, examples, set()), SETTINGS, concurrency=3,
               should_stop=lambda: False, on_finished=lambda c, i, e, o: outcomes.append(o),
               metadata={"run_id": "r"}, clock=runtime.timer)  # fmt: skip
    assert len(outcomes) == 6
    answers = [outcome.answer for outcome in outcomes]
    assert [answer.latency_ms for answer in answers] == [answer.server_latency_ms for answer in answers]
