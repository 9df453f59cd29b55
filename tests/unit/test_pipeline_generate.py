"""Generate: the teacher prompt, one batch (Converse through Stubber), idempotent parts in S3 (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from moto import mock_aws
from routing.errors import RETRYABLE_ERRORS, GenerationAborted, ModelAccessDenied, TeacherThrottled
from routing.pipeline.generation import (
    TEMPERATURE,
    batch_themes,
    execution_tag,
    generate_batch,
    teacher_prompt,
    teacher_system_prompt,
)
from routing.pipeline.planning import max_tokens_for
from routing.state import Batch, GenerateEvent

from tests.pipeline_support import BUCKET, run_state, stubbed

MODALITIES = ["visual", "audio", "transcription", "metadata"]
BATCH = Batch(batch=3, focus="audio", difficulty="hard", count=3)


def answer(items: list[dict], stop_reason: str = "end_turn") -> dict:
    text = "Sure! Here they are:\n```json\n" + json.dumps(items) + "\n```"
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 500, "outputTokens": 300, "totalTokens": 800},
        "metrics": {"latencyMs": 2000},
    }


def item(query: str, audio: float = 0.7) -> dict:
    rest = round((1 - audio) / 3, 3)
    return {
        "query": query,
        "visual": rest,
        "audio": audio,
        "transcription": rest,
        "metadata": rest,
        "reasoning": "Sound.",
    }


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def expected_request(run_id: str = "run-1", batch: Batch = BATCH) -> dict:
    return {
        "modelId": "us.amazon.nova-pro-v1:0",
        "system": [{"text": teacher_system_prompt(MODALITIES)}],
        "messages": [
            {
                "role": "user",
                "content": [{"text": teacher_prompt(batch, MODALITIES, batch_themes(run_id, batch.batch))}],
            }
        ],
        "inferenceConfig": {"maxTokens": max_tokens_for(batch.count), "temperature": TEMPERATURE},
        "requestMetadata": {
            "project": "vsr",
            "stage": "test",
            "run_id": run_id,
            "purpose": "teacher-generation",
        },
    }


def run_batch(runtime, s3, batch: Batch = BATCH):
    event = GenerateEvent(run=run_state(), batch=batch)
    return generate_batch(event, runtime=runtime, s3=s3, project="vsr", stage="test")


def test_prompt_asks_for_the_batch_in_the_contract_format() -> None:
    themes = batch_themes("run-1", 3)
    prompt = teacher_prompt(BATCH, MODALITIES, themes)
    assert "Write 3 different video search queries" in prompt
    assert "the audio signal should clearly get the highest weight" in prompt
    assert "hard: subtle or misleading cues" in prompt
    assert all(theme in prompt for theme in themes)
    assert (
        '{"query": "...", "visual": 0.0, "audio": 0.0, "transcription": 0.0, "metadata": 0.0, "reasoning"'
        in prompt
    )
    system = teacher_system_prompt(["visual", "mood"])
    assert "visual, mood" in system and "- mood: the mood signal of the video" in system


def test_mixed_focus_asks_for_ambiguous_queries() -> None:
    prompt = teacher_prompt(
        Batch(batch=4, focus="mixed", difficulty="easy", count=25), MODALITIES, batch_themes("r", 4)
    )
    assert "ambiguous or mixed queries" in prompt and "easy:" in prompt


def test_batches_get_different_themes_and_reruns_the_same() -> None:
    themes = [tuple(batch_themes("run-1", batch)) for batch in range(50)]
    assert len(set(themes)) == 50
    assert batch_themes("run-1", 7) == batch_themes("run-1", 7)
    assert batch_themes("run-1", 7) != batch_themes("run-2", 7)


def test_a_batch_writes_its_validated_part(s3) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    items = [
        item("a drum solo in the rain"),
        item("A  Drum Solo in the rain"),
        {"query": "no weights at all"},
        item("crowd cheering"),
    ]
    stubber.add_response("converse", answer(items), expected_request())
    result = run_batch(runtime, s3)
    stubber.assert_no_pending_responses()
    assert result.summary() == {"batch": 3, "valid": 2, "dropped": 2, "skipped": False}
    key = "runs/run-1/generated/part-00003.jsonl"
    lines = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()]
    assert [line["query"] for line in lines] == ["a drum solo in the rain", "crowd cheering"]
    assert set(lines[0]) == {"query", *MODALITIES, "reasoning"}
    assert abs(sum(lines[0][m] for m in MODALITIES) - 1.0) < 1e-9
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": "lifecycle", "Value": "scratch"}]
    metadata = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    assert metadata["valid"] == "2" and metadata["dropped"] == "1" and metadata["duplicates"] == "1"


def test_an_existing_part_is_not_asked_for_again(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/generated/part-00003.jsonl", Body=b"{}\n",
                  Metadata={"valid": "24", "dropped": "1", "duplicates": "0"})  # fmt: skip
    runtime, _ = stubbed("bedrock-runtime")  # nothing stubbed: a teacher call would fail the test
    assert run_batch(runtime, s3).summary() == {"batch": 3, "valid": 24, "dropped": 1, "skipped": True}


def test_a_cut_off_answer_keeps_the_complete_items(s3) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    response = answer([item("thunder over the sea"), item("applause at the end")], stop_reason="max_tokens")
    text = response["output"]["message"]["content"][0]["text"]
    response["output"]["message"]["content"][0]["text"] = text[: text.index("applause") + 5]
    stubber.add_response("converse", response, expected_request())
    result = run_batch(runtime, s3)
    assert (result.valid, result.stop_reason) == (1, "max_tokens") and result.dropped >= 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ThrottlingException", TeacherThrottled),
        ("ServiceUnavailableException", TeacherThrottled),
        ("AccessDeniedException", ModelAccessDenied),
    ],
)
def test_bedrock_errors_become_named_errors(s3, code: str, error: type) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_client_error("converse", code, "nope")
    with pytest.raises(error, match=code):
        run_batch(runtime, s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)  # nothing written, the retry asks again


# ---------------------------------------------------------------------------------- runs that recover


def _put_part(s3, batch: int, valid: int, asked: int = 25, execution: str = "") -> None:
    s3.put_object(Bucket=BUCKET, Key=f"runs/run-1/generated/part-{batch:05d}.jsonl", Body=b"",
                  Metadata={"valid": str(valid), "dropped": str(asked - valid), "duplicates": "0",
                            "asked": str(asked), "execution": execution})  # fmt: skip


def test_an_empty_part_is_not_done_a_resumed_run_asks_for_it_again(s3) -> None:
    _put_part(s3, 3, valid=0, asked=3)  # a batch whose teacher answer was all garbage
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_response("converse", answer([item("rain on a tin roof"), item("a crowd singing")]),
                         expected_request())  # fmt: skip
    result = run_batch(runtime, s3)
    stubber.assert_no_pending_responses()
    assert result.summary() == {"batch": 3, "valid": 2, "dropped": 0, "skipped": False}
    metadata = s3.head_object(Bucket=BUCKET, Key="runs/run-1/generated/part-00003.jsonl")["Metadata"]
    assert (metadata["valid"], metadata["asked"]) == ("2", "3")


def test_a_short_part_is_redone_and_a_full_one_is_not(s3) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    _put_part(s3, 3, valid=2, asked=3)  # 2 of 3 >= min_valid_share 0.5: done, nothing asked
    assert run_batch(runtime, s3).skipped
    stubber.assert_no_pending_responses()
    _put_part(s3, 3, valid=1, asked=3)  # 1 of 3 < 0.5: short, asked again
    stubber.add_response("converse", answer([item("waves"), item("wind"), item("birds")]), expected_request())
    assert run_batch(runtime, s3).summary() == {"batch": 3, "valid": 3, "dropped": 0, "skipped": False}
    stubber.assert_no_pending_responses()


EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:vsr-test-pipeline:run-1"


def _event(number: int, execution: str = EXECUTION) -> GenerateEvent:
    return GenerateEvent(run=run_state(), batch=Batch(batch=number, focus="audio", difficulty="easy", count=25),
                         execution=execution)  # fmt: skip


def test_mostly_invalid_first_batches_abort_before_paying_for_the_rest(s3) -> None:
    tag = execution_tag(EXECUTION)
    for number in range(5):
        _put_part(s3, number, valid=3, execution=tag)  # 15 valid of 125 asked
    runtime, _ = stubbed("bedrock-runtime")  # nothing stubbed: aborting must come before the teacher call
    with pytest.raises(GenerationAborted, match=r"first 5 teacher batches .* 15 valid examples of 125"):
        generate_batch(_event(7), runtime=runtime, s3=s3, project="vsr", stage="test")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/generated/part-00007")


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([(n, 3, "this") for n in range(4)], "the fifth of the first batches is not written yet"),
        (
            [(n, 3, "earlier") for n in range(5)],
            "short parts of an earlier execution are being asked for again",
        ),
        ([(n, 20, "earlier") for n in range(5)], "the first batches were mostly valid"),
    ],
)
def test_no_abort_without_a_verdict_on_the_first_batches(s3, parts, reason) -> None:
    for number, valid, who in parts:
        _put_part(s3, number, valid=valid, execution=execution_tag(EXECUTION if who == "this" else "other"))
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_response("converse", answer([item(f"query {n}") for n in range(25)]))
    result = generate_batch(_event(7), runtime=runtime, s3=s3, project="vsr", stage="test")
    assert result.valid == 25, reason


def test_an_early_batch_is_never_aborted(s3) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_response("converse", answer([]))
    result = generate_batch(_event(2), runtime=runtime, s3=s3, project="vsr", stage="test")
    assert (result.valid, result.skipped) == (0, False)


@pytest.mark.parametrize(
    "fault",
    [
        ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
        ResponseStreamingError(error="Connection broken: IncompleteRead"),
    ],
    ids=lambda fault: type(fault).__name__,
)
def test_transport_errors_are_retryable(s3, fault) -> None:
    """A real botocore client whose call fails in transport, before any answer (as a socket timeout does)."""
    runtime, _ = stubbed("bedrock-runtime")

    def fail(**_kwargs) -> None:
        raise fault

    runtime.meta.events.register("provide-client-params.bedrock-runtime.Converse", fail)
    with pytest.raises(TeacherThrottled, match=type(fault).__name__):
        run_batch(runtime, s3)
    assert TeacherThrottled in RETRYABLE_ERRORS


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ModelErrorException", 424),
        ("InternalFailure", 500),
        ("SomethingNew", 503),
        ("throttlingException", 400),
    ],
)
def test_model_errors_and_5xx_answers_are_retryable(s3, code, status) -> None:
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_client_error("converse", code, "the model could not answer", http_status_code=status)
    with pytest.raises(TeacherThrottled):
        run_batch(runtime, s3)


def test_an_event_stream_error_is_retryable(s3) -> None:
    runtime, _ = stubbed("bedrock-runtime")

    def fail(**_kwargs) -> None:
        raise EventStreamError(
            {"Error": {"Code": "modelStreamErrorException", "Message": "stream broke"}}, "Converse"
        )

    runtime.meta.events.register("provide-client-params.bedrock-runtime.Converse", fail)
    with pytest.raises(TeacherThrottled, match="ModelStreamErrorException"):
        run_batch(runtime, s3)


def test_lone_surrogates_in_the_teacher_answer_never_reach_the_part_or_the_result(s3) -> None:
    """The runtime marshals results with ensure_ascii=False, then UTF-8; S3 bodies are UTF-8 too."""
    runtime, stubber = stubbed("bedrock-runtime")
    poisoned = answer([item("thunder PLACEHOLDER"), item("rain")])
    text = poisoned["output"]["message"]["content"][0]["text"]
    poisoned["output"]["message"]["content"][0]["text"] = text.replace("PLACEHOLDER", "\\ud800").replace(
        '"Sound."', '"Sound \\udfff."'
    )
    stubber.add_response("converse", poisoned, expected_request())
    result = run_batch(runtime, s3)
    json.dumps(result.summary(), ensure_ascii=False).encode("utf-8")
    json.dumps(result.errors, ensure_ascii=False).encode("utf-8")
    body = (
        s3.get_object(Bucket=BUCKET, Key="runs/run-1/generated/part-00003.jsonl")["Body"]
        .read()
        .decode("utf-8")
    )
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["query"] for line in lines] == ["thunder \ufffd", "rain"]
    assert lines[0]["reasoning"] == "Sound \ufffd."


def test_first_batches_that_passed_are_not_read_again_by_a_warm_container(s3) -> None:
    """A run has hundreds of batches: once the first ones passed, later batches do not re-read them."""
    tag = execution_tag(EXECUTION)
    for number in range(5):
        _put_part(s3, number, valid=25, execution=tag)
    runtime, stubber = stubbed("bedrock-runtime")
    stubber.add_response("converse", answer([item("waves")]), expected_request(batch=_event(7).batch))
    generate_batch(_event(7), runtime=runtime, s3=s3, project="vsr", stage="test")
    for number in range(5):  # the first parts turn bad: a warm container does not look again
        _put_part(s3, number, valid=0, execution=tag)
    stubber.add_response("converse", answer([item("wind")]), expected_request(batch=_event(8).batch))
    generate_batch(_event(8), runtime=runtime, s3=s3, project="vsr", stage="test")
    stubber.assert_no_pending_responses()
