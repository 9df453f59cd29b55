"""The active-model contract's optional parts: rollout, tier-0 model, change record, and their transitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from routing.active_model import (
    AutoFinish,
    LocalModelRef,
    parse_active_model,
    promoted,
    rolled_back,
    rollout_aborted,
    rollout_finished,
    rollout_percent_set,
    rollout_started,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/aaaaaaaaaaaa"
NEW = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/bbbbbbbbbbbb"
LOCAL = LocalModelRef("s3://bucket/runs/r2/local-model/model.json", 0.62, "ab" * 32)


def active() -> object:
    return promoted(parse_active_model(""), model_id=OLD, run_id="r1", now=NOW)


def test_a_value_without_the_optional_keys_reads_and_writes_as_before() -> None:
    value = active()
    assert set(json.loads(value.to_json())) == {"model_id", "run_id", "promoted_at", "previous"}
    assert parse_active_model(value.to_json()) == value


def test_a_rollout_round_trips_through_the_parameter_text() -> None:
    value = rollout_started(
        active(), model_id=NEW, run_id="r2", mode="canary", percent=10, by="cli:arn:me", now=NOW,
        auto_finish_after=AutoFinish(queries=5000, hours=24), local_model=LOCAL,
    )  # fmt: skip
    read = parse_active_model(value.to_json())
    assert read == value
    assert read.rollout.mode == "canary" and read.rollout.percent == 10.0
    assert read.rollout.auto_finish_after == AutoFinish(5000, 24.0)
    assert read.change.by == "cli:arn:me" and read.change.action == "rollout_canary"
    assert read.model_id == OLD  # the active model keeps serving


@pytest.mark.parametrize(
    "rollout",
    [
        {"model_id": NEW, "mode": "blue-green", "percent": 10, "started_at": "t"},
        {"model_id": NEW, "mode": "canary", "percent": 101, "started_at": "t"},
        {"model_id": NEW, "mode": "canary", "percent": True, "started_at": "t"},
        {"model_id": NEW, "mode": "canary", "percent": float("nan"), "started_at": "t"},
        {"model_id": "", "mode": "shadow", "percent": 10, "started_at": "t"},
        {"model_id": NEW, "mode": "shadow", "percent": 10},
        # The controller and `vsr rollout` measure the rollout from started_at: it must be a date.
        {"model_id": NEW, "mode": "canary", "percent": 10, "started_at": "yesterday"},
        "canary",
    ],
)
def test_a_malformed_rollout_is_no_rollout_and_the_active_model_still_reads(rollout: object) -> None:
    text = json.dumps({"model_id": OLD, "run_id": "r1", "rollout": rollout})
    value = parse_active_model(text)
    assert value.model_id == OLD and value.rollout is None


def test_a_malformed_local_model_is_ignored() -> None:
    text = json.dumps({"model_id": OLD, "local_model": {"s3_uri": "/tmp/x", "threshold": 0.5}})
    assert parse_active_model(text).local_model is None


def test_finishing_promotes_the_candidate_with_its_local_model_and_keeps_the_active_as_previous() -> None:
    started = rollout_started(
        active(), model_id=NEW, run_id="r2", mode="shadow", percent=20, local_model=LOCAL
    )
    done = rollout_finished(started, by="schedule:finish", now=NOW, reason="5000 queries, no alarm")
    assert (done.model_id, done.run_id, done.local_model, done.rollout) == (NEW, "r2", LOCAL, None)
    assert done.previous["model_id"] == OLD
    assert done.change.action == "rollout_finish" and done.change.reason == "5000 queries, no alarm"
    assert rolled_back(done).model_id == OLD


def test_aborting_leaves_the_active_model_alone_and_records_the_reason() -> None:
    started = rollout_started(active(), model_id=NEW, run_id="r2", mode="canary", percent=10)
    aborted = rollout_aborted(started, by="alarm:candidate-fallbacks", now=NOW, reason="fallback rate 12 %")
    assert aborted.model_id == OLD and aborted.rollout is None and aborted.previous == started.previous
    assert aborted.change.by == "alarm:candidate-fallbacks"
    assert NEW in aborted.change.reason and "fallback rate 12 %" in aborted.change.reason


def test_changing_the_share_keeps_the_rollout_and_says_from_what_to_what() -> None:
    started = rollout_started(active(), model_id=NEW, run_id="r2", mode="canary", percent=10)
    moved = rollout_percent_set(started, 50, by="cli:arn:me")
    assert moved.rollout.percent == 50.0 and moved.rollout.started_at == started.rollout.started_at
    assert moved.change.reason == "10 % -> 50 %"


@pytest.mark.parametrize("percent", [-1, 100.5, True])
def test_a_share_outside_0_to_100_is_refused(percent: object) -> None:
    with pytest.raises(ValueError, match="0 to 100"):
        rollout_started(active(), model_id=NEW, run_id="r2", mode="canary", percent=percent)


def test_transitions_without_a_rollout_or_to_the_active_model_are_refused() -> None:
    with pytest.raises(ValueError, match="no rollout"):
        rollout_finished(active())
    with pytest.raises(ValueError, match="no rollout"):
        rollout_aborted(active())
    with pytest.raises(ValueError, match="already the active model"):
        rollout_started(active(), model_id=OLD, run_id="r1", mode="canary", percent=5)


def test_promoting_over_a_rollout_ends_it() -> None:
    started = rollout_started(active(), model_id=NEW, run_id="r2", mode="canary", percent=10)
    assert promoted(started, model_id=NEW, run_id="r2").rollout is None


def test_a_reason_with_a_lone_surrogate_is_kept_encodable() -> None:
    started = rollout_started(active(), model_id=NEW, run_id="r2", mode="canary", percent=10)
    aborted = rollout_aborted(started, by="alarm:x\ud800", reason="threshold \udc00 crossed")
    aborted.change.reason.encode("utf-8")  # a lone surrogate would raise UnicodeEncodeError (prints, logs)
    assert "\ufffd" in aborted.change.reason and aborted.change.by == "alarm:x\ufffd"
