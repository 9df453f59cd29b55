"""Tier-0 training (routing.pipeline.local_training): it learns, its artifact predicts what it computed,
the same training file gives the same bytes, and bad input is refused by line."""

from __future__ import annotations

import hashlib
import json
import random

import boto3
import pytest
from moto import mock_aws
from routing import LabelledExample, RoutingDecision, system_prompt
from routing.errors import TrainingDataInvalid
from routing.local_model import load_local_model
from routing.pipeline.dataset import conversation_record
from routing.pipeline.local_training import fit, train_local_model, training_examples
from routing.settings import TrainLocalModelEnv
from routing.state import DatasetState, TrainLocalModelEvent

from tests.pipeline_support import BUCKET, run_state

MODALITIES = ("visual", "audio", "transcription", "metadata")
WORDS = {
    "visual": ["sunset", "drone", "skyline", "glacier", "fireworks"],
    "audio": ["drum", "podcast", "guitar", "choir", "whistle"],
    "transcription": ["quote", "lecture", "speech", "interview", "subtitle"],
    "metadata": ["upload", "channel", "uploaded", "published", "author"],
}
FILLER = ["video", "clip", "show", "me", "the", "best", "of", "a"]
SETTINGS = TrainLocalModelEnv(buckets=2**12, epochs=150)


def separable(count: int, seed: int) -> list[tuple[str, str]]:
    """(query, dominant modality): three of the modality's own words among filler words."""
    rng = random.Random(seed)
    items = []
    for index in range(count):
        dominant = MODALITIES[index % len(MODALITIES)]
        words = rng.sample(WORDS[dominant], 3) + rng.sample(FILLER, 2)
        rng.shuffle(words)
        items.append((" ".join(words), dominant))
    return items


def target(dominant: str) -> list[float]:
    return [0.85 if name == dominant else 0.05 for name in MODALITIES]


def train_text(items: list[tuple[str, str]]) -> str:
    system = system_prompt(MODALITIES)
    lines = []
    for query, dominant in items:
        decision = RoutingDecision.from_weights(
            dict(zip(MODALITIES, target(dominant), strict=True)), "r", MODALITIES
        )
        lines.append(json.dumps(conversation_record(LabelledExample(query, decision), system)))
    return "\n".join(lines) + "\n"


def test_it_learns_a_clearly_separable_set_confident_and_right() -> None:
    train = separable(400, seed=1)
    fitted = fit([q for q, _ in train], [target(d) for _, d in train], MODALITIES, SETTINGS)
    unseen = [item for item in separable(80, seed=2) if item[0] not in {q for q, _ in train}]
    predictions = [(fitted.model.predict(query), dominant) for query, dominant in unseen]
    assert all(p.decision.dominant == dominant for p, dominant in predictions)
    assert min(p.confidence for p, _ in predictions) > 0.6
    # Words it never saw: not confident.
    assert fitted.model.predict("zebra xylophone").confidence == 0.0
    assert fitted.model.trained["examples"] == 400 and fitted.features == fitted.model.trained["features"]


def test_the_loaded_artifact_predicts_the_logits_training_computed() -> None:
    train = separable(200, seed=3)
    fitted = fit([q for q, _ in train], [target(d) for _, d in train], MODALITIES, SETTINGS)
    loaded = load_local_model(fitted.model.to_json())
    for (query, _), expected in zip(train, fitted.logits, strict=True):
        logits, _known = loaded.logits(query)
        assert logits == pytest.approx(list(expected), abs=1e-9)


def test_the_training_file_is_read_as_routing_conversations_and_a_bad_line_is_named() -> None:
    items = separable(3, seed=4)
    queries, targets = training_examples(train_text(items), MODALITIES)
    assert queries == [q for q, _ in items]
    assert targets[0] == pytest.approx(target(items[0][1]))
    broken = (
        train_text(items) + json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": []}) + "\n"
    )
    with pytest.raises(TrainingDataInvalid, match="line 4"):
        training_examples(broken, MODALITIES)
    with pytest.raises(TrainingDataInvalid, match="line 1"):
        training_examples("{not json\n", MODALITIES)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def event(train_key: str | None) -> TrainLocalModelEvent:
    run = run_state("run-1", modalities=list(MODALITIES))
    dataset = DatasetState(
        train_key=train_key, holdout_key="h", stats_key="s", train_count=0, holdout_count=0
    )
    return TrainLocalModelEvent(run=run, dataset=dataset)


def test_the_step_writes_the_artifact_with_its_sha256_and_the_same_input_gives_the_same_bytes(s3) -> None:
    key = "runs/run-1/dataset/train.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=train_text(separable(120, seed=5)).encode())
    first = train_local_model(event(key), settings=SETTINGS, s3=s3)
    body = s3.get_object(Bucket=BUCKET, Key="runs/run-1/local-model/model.json")["Body"].read()
    assert first["trained"] is True and first["examples"] == 120 and first["error"] is None
    assert first["s3_uri"] == f"s3://{BUCKET}/runs/run-1/local-model/model.json"
    assert first["sha256"] == hashlib.sha256(body).hexdigest()
    assert load_local_model(body).trained["run_id"] == "run-1"
    second = train_local_model(event(key), settings=SETTINGS, s3=s3)
    assert second["sha256"] == first["sha256"]
    assert s3.get_object(Bucket=BUCKET, Key="runs/run-1/local-model/model.json")["Body"].read() == body


def test_without_a_training_file_nothing_is_trained_and_a_missing_file_is_an_error(s3) -> None:
    result = train_local_model(event(None), settings=SETTINGS, s3=s3)
    assert result["trained"] is False and "invocation logs" in result["error"]
    with pytest.raises(TrainingDataInvalid, match="no training file"):
        train_local_model(event("runs/run-1/dataset/train.jsonl"), settings=SETTINGS, s3=s3)


def test_the_settings_round_trip_through_the_environment_and_refuse_a_bucket_count_not_a_power_of_two() -> (
    None
):
    settings = TrainLocalModelEnv(buckets=2**12, ngrams=(1,), epochs=10)
    assert TrainLocalModelEnv.from_environ(settings.to_environ()) == settings
    with pytest.raises(ValueError, match="power of two"):
        TrainLocalModelEnv(buckets=3000)
