"""The runtime's one Converse call: request shape, result, and the one table of Bedrock errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    IncompleteReadError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from routing.converse import (
    BEDROCK_ERRORS,
    ERROR_CODES,
    PERMANENT,
    THROTTLED,
    TRANSIENT,
    ConverseResult,
    answer_text,
    classify,
    converse,
    converse_request,
)

from tests.evaluation_support import converse_response
from tests.pipeline_support import stubbed

ENDPOINT = "https://bedrock-runtime.us-east-1.amazonaws.com"


def _request() -> dict:
    return converse_request(
        model_id="amazon.nova-micro-v1:0",
        system_prompt="route queries",
        prompt="dog barking at night",
        max_tokens=300,
        temperature=0.0,
        request_metadata={"run_id": "run-1"},
    )


def _client_error(code: str, status: int, message: str = "nope") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Converse",
    )


def test_the_request_is_valid_for_converse_and_the_result_carries_text_tokens_and_latency() -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_response(
        "converse", converse_response('{"visual": 1}', latency_ms=321), expected_params=_request()
    )
    ticks = iter([10.0, 10.25])
    result = converse(runtime, _request(), clock=lambda: next(ticks))
    stubber.assert_no_pending_responses()
    assert result == ConverseResult('{"visual": 1}', "end_turn", 60, 40, 250.0, 321.0)


def test_answer_text_joins_text_blocks_only() -> None:
    response = {
        "output": {"message": {"content": [{"reasoningContent": {"x": 1}}, {"text": "a"}, {"text": "b"}]}}
    }
    assert answer_text(response) == "ab"
    assert answer_text({}) == ""


@pytest.mark.parametrize(
    ("code", "status", "kind", "severity"),
    [
        ("ThrottlingException", 429, "throttled", THROTTLED),
        ("throttlingException", 400, "throttled", THROTTLED),  # event-stream errors: lower camel case
        ("ServiceQuotaExceededException", 400, "throttled", PERMANENT),
        ("ModelNotReadyException", 429, "not_ready", TRANSIENT),
        ("ServiceUnavailableException", 503, "unavailable", TRANSIENT),
        ("InternalFailure", 500, "unavailable", TRANSIENT),
        ("ModelTimeoutException", 408, "timeout", TRANSIENT),
        ("ModelErrorException", 424, "model_error", TRANSIENT),
        ("ValidationException", 400, "rejected", PERMANENT),
        ("AccessDeniedException", 403, "rejected", PERMANENT),
        ("SomethingNew", 503, "unavailable", TRANSIENT),
        ("SomethingNew", 400, "error", PERMANENT),
    ],
)
def test_bedrock_error_codes_are_classified_by_the_one_table(code, status, kind, severity) -> None:
    fault = classify(_client_error(code, status, "the message"))
    assert (fault.kind, fault.severity) == (kind, severity)
    assert fault.code == code[:1].upper() + code[1:]
    assert str(fault) == f"{fault.code}: the message"
    assert fault.temporary == (severity != PERMANENT)


def test_every_code_of_the_table_has_a_known_class() -> None:
    assert {severity for _kind, severity in ERROR_CODES.values()} == {THROTTLED, TRANSIENT, PERMANENT}


def test_an_event_stream_error_is_classified_by_its_code() -> None:
    error = EventStreamError(
        {"Error": {"Code": "modelStreamErrorException", "Message": "stream broke"}}, "Converse"
    )
    fault = classify(error)
    assert (fault.code, fault.kind, fault.severity) == ("ModelStreamErrorException", "model_error", TRANSIENT)


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (ReadTimeoutError(endpoint_url=ENDPOINT), "timeout"),
        (ConnectTimeoutError(endpoint_url=ENDPOINT), "timeout"),
        (EndpointConnectionError(endpoint_url=ENDPOINT), "connection"),
        (ConnectionClosedError(endpoint_url=ENDPOINT), "connection"),
        (ResponseStreamingError(error="Connection broken: IncompleteRead"), "connection"),
        (IncompleteReadError(actual_bytes=1, expected_bytes=2), "connection"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value,
)
def test_faults_of_the_connection_are_transient(fault, kind) -> None:
    assert isinstance(fault, BEDROCK_ERRORS)
    classified = classify(fault)
    assert (classified.code, classified.kind, classified.severity) == (type(fault).__name__, kind, TRANSIENT)


def test_a_fault_of_the_request_itself_is_permanent() -> None:
    classified = classify(ParamValidationError(report="maxTokens must be an integer"))
    assert (classified.code, classified.kind, classified.severity) == (
        "ParamValidationError",
        "error",
        PERMANENT,
    )
