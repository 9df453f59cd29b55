"""Generate: the teacher prompt, one batch (Converse through Stubber), idempotent parts in S3 (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from routing.pipeline.errors import ModelAccessDenied, TeacherThrottled
from routing.pipeline.generation import (
    TEMPERATURE,
    batch_themes,
    generate_batch,
    teacher_prompt,
    teacher_system_prompt,
)
from routing.pipeline.planning import max_tokens_for
from routing.pipeline.state import Batch, GenerateEvent

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
