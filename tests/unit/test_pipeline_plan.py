"""Plan: settings resolution, model checks (Stubber), batch planning, the manifest (moto S3)."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from routing import DEFAULT_MODALITIES
from routing.errors import (
    BedrockThrottled,
    GoldSetInvalid,
    InvalidInput,
    ModelEndOfLife,
    ModelNotAvailable,
    ModelNotDistillable,
)
from routing.pipeline.inputs import parse_execution_input
from routing.pipeline.planning import (
    GENERATION_OVERSHOOT,
    HISTORY_EVENT_LIMIT,
    POLL_BUDGETS,
    check_history_budget,
    check_models,
    foundation_model_id,
    generation_target,
    plan_batches,
    plan_run,
    resolve_settings,
    worst_case_history_events,
)
from routing.settings import GATE_TIGHTER, GateThresholds, tightest_gate
from routing.state import PlanEvent

from tests.pipeline_support import BUCKET, run_state, settings, stubbed

NOW = datetime(2026, 1, 15, tzinfo=UTC)


def details(
    model_id: str, *, status: str = "ACTIVE", end_of_life: datetime | None = None, distillation=True
) -> dict:
    lifecycle: dict = {"status": status}
    if end_of_life:
        lifecycle["endOfLifeTime"] = end_of_life
    return {
        "modelDetails": {
            "modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}",
            "modelId": model_id,
            "customizationsSupported": ["FINE_TUNING", "DISTILLATION"] if distillation else ["FINE_TUNING"],
            "modelLifecycle": lifecycle,
        }
    }


def resolve(payload: dict | None = None, previous: dict | None = None, **env: str):
    return resolve_settings(settings(**env), parse_execution_input(payload or {}), "run-1", previous)


# ---------------------------------------------------------------------------------- settings


def test_defaults_then_overrides() -> None:
    run = resolve(
        {
            "examples": 500,
            "holdout": 50,
            "judge": False,
            "wait_seconds": {"job": 0},
            "gate": {"min_mean_score": 4},
        }
    )
    assert (run.examples, run.holdout, run.judge) == (500, 50, False)
    assert run.wait_seconds.model_dump() == {"job": 0, "deployment": 30, "evaluation": 300}
    assert run.gate.min_mean_score == 4 and run.gate.max_score_drop == 0.25
    assert run.mode == "generate" and run.teacher_model_id == "us.amazon.nova-pro-v1:0"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"examples": 150, "holdout": 100}, "'examples' (150) must be at least holdout + 100 (200)"),
        ({"examples": 16_000, "holdout": 100}, "'examples' (16000) must be at most 15,000 + holdout (15100)"),
        (
            {"teacher_model_id": "us.amazon.nova-premier-v1:0"},
            "cdk deploy -c teacher_model_id=us.amazon.nova-premier-v1:0",
        ),
        ({"student_model_id": "amazon.nova-lite-v1:0:300k"}, "'student_model_id'"),
        (  # a weaker yardstick would loosen the gate's comparisons
            {
                "baseline_model_id": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
            },
            "cdk deploy -c baseline_model_id=arn:aws:bedrock:",
        ),
        (
            {
                "dataset_s3_uri": "s3://vsr-test-data/imports/a.jsonl",
                "invocation_logs_s3_uri": "s3://logs/x/",
            },
            "exclude each other",
        ),
        (
            {"dataset_s3_uri": "s3://another-bucket/imports/a.jsonl"},
            "must be under s3://vsr-test-data/imports/",
        ),
        (
            {"invocation_logs_s3_uri": "s3://vsr-test-data/runs/x/"},
            "'invocation_logs_s3_uri' must be under s3://vsr-test-data/invocation-logs/",
        ),
        (
            {"invocation_logs_s3_uri": "s3://someone-elses-logs/invocation-logs/"},
            "point Bedrock's model invocation logging there",
        ),
        (
            {"wait_seconds": {"job": 60}},
            "'wait_seconds.job' (60) must be 0 (poll at once: tests, dry run) or at least 288 s",
        ),
        ({"wait_seconds": {"deployment": 10}}, "'wait_seconds.deployment' (10)"),
        # A 10 s poll over the judge's 24 h deadline would be 8,640 polls: far past the history cap.
        (
            {"wait_seconds": {"evaluation": 10}},
            "'wait_seconds.evaluation' (10) must be 0 (poll at once: tests, dry run) or at least 288 s, "
            "so that evaluation_deadline_hours fits in 300 polls",
        ),
    ],
)
def test_rules_name_the_key_to_change(payload: dict, expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve(payload)
    assert expected in str(caught.value)


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve({"examples": 150, "wait_seconds": {"job": 60}})
    assert "'examples'" in str(caught.value) and "'wait_seconds.job'" in str(caught.value)


@pytest.mark.parametrize(
    "gate",
    [
        {"min_mean_score": 1},  # any model scores at least 1
        {"max_score_drop": 4},
        {"min_json_validity": 0},
        {"max_p95_latency_ratio": 100},
        {"min_mean_score": 3.49},  # a little looser is looser
    ],
)
def test_an_input_cannot_loosen_the_gate(gate: dict) -> None:
    ((key, value),) = gate.items()
    with pytest.raises(InvalidInput) as caught:
        resolve({"gate": gate})
    message = str(caught.value)
    assert f"'gate.{key}' ({value:g}) would loosen the configured gate" in message
    assert "loosening is configuration (cdk deploy -c gate=...)" in message


def test_every_loosened_threshold_is_named_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve(
            {
                "gate": {
                    "min_mean_score": 1,
                    "max_score_drop": 4,
                    "min_json_validity": 0,
                    "max_p95_latency_ratio": 100,
                }
            }
        )
    assert str(caught.value).count("would loosen the configured gate") == 4


def test_an_input_may_tighten_the_gate_or_repeat_it() -> None:
    stricter = {
        "min_mean_score": 4.5,
        "max_score_drop": 0.1,
        "min_json_validity": 0.99,
        "max_p95_latency_ratio": 0.5,
    }
    assert resolve({"gate": stricter}).gate.model_dump() == stricter
    configured = settings().gate.model_dump()
    assert resolve({"gate": configured}).gate.model_dump() == configured


def test_a_gate_loosened_by_configuration_applies() -> None:
    loose = {
        "min_mean_score": 2.0,
        "max_score_drop": 1.0,
        "min_json_validity": 0.5,
        "max_p95_latency_ratio": 3.0,
    }
    assert resolve(GATE=json.dumps(loose)).gate.model_dump() == loose


def test_the_report_uses_the_stricter_of_the_deployed_and_the_run_gate() -> None:
    deployed = GateThresholds(
        min_mean_score=3.5, max_score_drop=0.25, min_json_validity=0.95, max_p95_latency_ratio=1.0
    )
    run = GateThresholds(min_mean_score=1, max_score_drop=0.1, min_json_validity=0, max_p95_latency_ratio=100)
    assert tightest_gate(deployed, run).model_dump() == {
        "min_mean_score": 3.5, "max_score_drop": 0.1, "min_json_validity": 0.95, "max_p95_latency_ratio": 1.0,
    }  # fmt: skip
    assert tightest_gate(deployed, None) == deployed
    assert set(GATE_TIGHTER) == set(GateThresholds.model_fields)


def test_a_resumed_run_keeps_what_its_data_was_made_with() -> None:
    first = resolve({"examples": 500, "holdout": 50})
    previous = first.model_dump(mode="json")
    resumed = resolve({"wait_seconds": {"job": 0}}, previous=previous, EXAMPLES="12000")
    assert (resumed.examples, resumed.holdout) == (500, 50)
    assert resumed.wait_seconds.job == 0
    with pytest.raises(InvalidInput, match="run run-1 was started with 500, not 800"):
        resolve({"examples": 800}, previous=previous)


def test_examples_per_call_must_fit_a_teacher_answer() -> None:
    # The settings refuse more than 79 (tests/unit/test_pipeline_inputs.py); a resumed run keeps its manifest's.
    with pytest.raises(InvalidInput, match="'examples_per_call' \\(100\\)"):
        resolve(previous={"examples_per_call": 100})


# ---------------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("us.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0:128k"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0",
        ),
        ("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefghijkl", None),
    ],
)
def test_foundation_model_behind_an_id(model_id: str, expected: str | None) -> None:
    assert foundation_model_id(model_id) == expected


def expect_models(
    stubber, teacher: dict | None = None, student: dict | None = None, baseline: dict | None = None
) -> None:
    """GetFoundationModel calls in Plan's order; the teacher and the judge share one (both Nova Pro)."""
    stubber.add_response("get_foundation_model", teacher or details("amazon.nova-pro-v1:0", distillation=False),
                         {"modelIdentifier": "amazon.nova-pro-v1:0"})  # fmt: skip
    stubber.add_response("get_foundation_model", student or details("amazon.nova-micro-v1:0:128k"),
                         {"modelIdentifier": "amazon.nova-micro-v1:0:128k"})  # fmt: skip
    stubber.add_response("get_foundation_model", baseline or details("anthropic.claude-haiku-4-5-20251001-v1:0"),
                         {"modelIdentifier": "anthropic.claude-haiku-4-5-20251001-v1:0"})  # fmt: skip


def test_models_are_checked_once_each() -> None:
    bedrock, stubber = stubbed("bedrock")
    expect_models(stubber)
    records, warnings = check_models(bedrock, resolve(), "us-east-1", NOW)
    stubber.assert_no_pending_responses()
    assert [record["role"] for record in records] == ["teacher", "student", "baseline", "judge"]
    assert warnings == []


def test_a_legacy_teacher_is_a_warning_with_its_end_of_life() -> None:
    bedrock, stubber = stubbed("bedrock")
    legacy = details("amazon.nova-pro-v1:0", status="LEGACY", end_of_life=NOW + timedelta(days=200))
    expect_models(stubber, teacher=legacy)
    _, warnings = check_models(bedrock, resolve(), "us-east-1", NOW)
    assert any(
        "teacher_model_id 'us.amazon.nova-pro-v1:0' is Legacy" in w and "2026-08-03" in w for w in warnings
    )


def test_a_model_past_its_end_of_life_fails_naming_the_key() -> None:
    bedrock, stubber = stubbed("bedrock")
    expect_models(
        stubber, teacher=details("amazon.nova-pro-v1:0", status="LEGACY", end_of_life=NOW - timedelta(days=1))
    )
    with pytest.raises(ModelEndOfLife, match="change teacher_model_id"):
        check_models(bedrock, resolve(), "us-east-1", NOW)


def test_an_unknown_model_fails_naming_the_key() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response(
        "get_foundation_model", details("amazon.nova-pro-v1:0"), {"modelIdentifier": "amazon.nova-pro-v1:0"}
    )
    stubber.add_client_error("get_foundation_model", "ResourceNotFoundException", "not found",
                             expected_params={"modelIdentifier": "amazon.nova-micro-v1:0:128k"})  # fmt: skip
    with pytest.raises(ModelNotAvailable, match="change student_model_id"):
        check_models(bedrock, resolve(), "us-east-1", NOW)


def test_the_student_must_support_distillation() -> None:
    bedrock, stubber = stubbed("bedrock")
    expect_models(stubber, student=details("amazon.nova-micro-v1:0:128k", distillation=False))
    with pytest.raises(ModelNotDistillable, match="does not support DISTILLATION"):
        check_models(bedrock, resolve(), "us-east-1", NOW)


def test_throttling_is_the_retryable_error() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_foundation_model", "ThrottlingException", "slow down")
    with pytest.raises(BedrockThrottled):
        check_models(bedrock, resolve(), "us-east-1", NOW)


def test_judge_and_baseline_are_checked_only_when_used() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response(
        "get_foundation_model", details("amazon.nova-pro-v1:0"), {"modelIdentifier": "amazon.nova-pro-v1:0"}
    )
    stubber.add_response("get_foundation_model", details("amazon.nova-micro-v1:0:128k"),
                         {"modelIdentifier": "amazon.nova-micro-v1:0:128k"})  # fmt: skip
    run = resolve({"judge": False}, EVALUATION_CANDIDATES="distilled,student")
    records, _ = check_models(bedrock, run, "us-east-1", NOW)
    assert [record["role"] for record in records] == ["teacher", "student"]


# ---------------------------------------------------------------------------------- batches


@pytest.mark.parametrize("per_call", [20, 25, 50, 75])
def test_ten_thousand_examples_need_at_most_500_teacher_calls(per_call: int) -> None:
    run = resolve(EXAMPLES_PER_CALL=str(per_call))
    batches = plan_batches(generation_target(run), per_call, run.modalities)
    assert len(batches) <= 500
    assert sum(batch.count for batch in batches) >= 10_000
    assert all(1 <= batch.count <= per_call for batch in batches)


def test_batches_balance_focus_and_difficulty() -> None:
    batches = plan_batches(10_500, 25, ["visual", "audio", "transcription", "metadata"])
    focus = {
        name: sum(1 for b in batches if b.focus == name)
        for name in ["visual", "audio", "transcription", "metadata", "mixed"]
    }
    difficulty = {
        name: sum(1 for b in batches if b.difficulty == name) for name in ["easy", "medium", "hard"]
    }
    assert max(focus.values()) - min(focus.values()) <= 1
    assert max(difficulty.values()) - min(difficulty.values()) <= 5
    assert [b.batch for b in batches] == list(range(len(batches)))
    # Consecutive batches differ in focus, so a partial run is still balanced.
    assert all(a.focus != b.focus for a, b in itertools.pairwise(batches))


def test_generation_targets_per_mode() -> None:
    assert generation_target(resolve({"examples": 1000})) == 1050
    assert generation_target(resolve({"dataset_s3_uri": "s3://vsr-test-data/imports/x.jsonl"})) == 0
    # From invocation logs only the held-out set is generated.
    assert (
        generation_target(resolve({"invocation_logs_s3_uri": "s3://vsr-test-data/invocation-logs/AWSLogs/"}))
        == 105
    )
    assert math.ceil(generation_target(resolve()) / 25) == 420


# ---------------------------------------------------------------------------------- the step


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def event(payload: dict | None, name: str = "run-1") -> PlanEvent:
    return PlanEvent.model_validate({"input": payload, "execution": {"name": name, "id": f"arn:...:{name}"}})


def test_plan_writes_the_manifest_and_returns_small_state(s3) -> None:
    bedrock, stubber = stubbed("bedrock")
    expect_models(
        stubber, teacher=details("amazon.nova-pro-v1:0", status="LEGACY", end_of_life=NOW + timedelta(days=9))
    )
    result = plan_run(event({"examples": 300}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    stubber.assert_no_pending_responses()
    run = result["run"]
    assert run["run_id"] == "run-1" and run["prefix"] == "runs/run-1/" and run["bucket"] == BUCKET
    assert run["warnings"] and "Legacy" in run["warnings"][0]
    assert len(result["generation"]["items"]) == math.ceil(315 / 25)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/run-1/manifest.json")["Body"].read())
    assert manifest["schema_version"] == 1 and manifest["mode"] == "generate"
    assert manifest["input"] == {"examples": 300} and manifest["warnings"] == run["warnings"]
    assert manifest["names"] == {
        "job_name": "vsr-test-run-1-distillation",
        "custom_model_name": "vsr-test-run-1",
        "deployment_name": "vsr-test-run-1",
    }
    assert len(json.dumps(result)) < 8_000


def test_invalid_input_fails_before_any_bedrock_call(s3) -> None:
    # No responses stubbed: a Bedrock call would raise UnStubbedResponseError, not InvalidInput.
    bedrock, _ = stubbed("bedrock")
    with pytest.raises(InvalidInput, match="unknown keys 'example'"):
        plan_run(event({"example": 300}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_a_missing_dataset_is_refused_before_any_bedrock_call(s3) -> None:
    bedrock, _ = stubbed("bedrock")
    with pytest.raises(InvalidInput, match="no such object"):
        plan_run(
            event({"dataset_s3_uri": f"s3://{BUCKET}/imports/missing.jsonl"}),
            settings=settings(),
            bedrock=bedrock,
            s3=s3,
            now=NOW,
        )


def test_a_prepared_dataset_is_not_generated_again(s3) -> None:
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/stats.json", Body=b"{}")
    bedrock, stubber = stubbed("bedrock")
    expect_models(stubber)
    result = plan_run(event({"examples": 300}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    assert result["generation"]["items"] == []


def test_resuming_a_run_by_its_id_appends_the_execution(s3) -> None:
    for name, payload in (("run-1", {"examples": 300}), ("run-1-again", {"run_id": "run-1"})):
        bedrock, stubber = stubbed("bedrock")
        expect_models(stubber)
        result = plan_run(event(payload, name), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    assert result["run"]["run_id"] == "run-1" and result["run"]["settings"]["examples"] == 300
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/run-1/manifest.json")["Body"].read())
    assert [item["name"] for item in manifest["executions"]] == ["run-1", "run-1-again"]


def test_a_retried_plan_records_its_execution_once(s3) -> None:
    for _attempt in range(2):
        bedrock, stubber = stubbed("bedrock")
        expect_models(stubber)
        plan_run(event({"examples": 300}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/run-1/manifest.json")["Body"].read())
    assert [item["name"] for item in manifest["executions"]] == ["run-1"]


def test_run_state_round_trips() -> None:
    state = run_state()
    assert state.layout.part_key(7) == "runs/run-1/generated/part-00007.jsonl"
    assert state.settings.mode == "generate"


def test_every_poll_loop_at_its_budget_fits_the_history_limit_with_the_largest_generation() -> None:
    """The worst case Plan checks: all three loops at their budgets and the most batches settings allow."""
    assert set(POLL_BUDGETS) == {"job", "deployment", "evaluation"}
    largest = plan_batches(math.ceil(16_000 * (1 + GENERATION_OVERSHOOT)), 20, DEFAULT_MODALITIES)
    assert worst_case_history_events(len(largest)) <= HISTORY_EVENT_LIMIT
    check_history_budget("run-1", len(largest))
    with pytest.raises(InvalidInput, match="more than Step Functions' 25,000"):
        check_history_budget("run-1", 2_000)


# ---------------------------------------------------------------------------------- the gold set

GOLD_URI = f"s3://{BUCKET}/imports/gold.jsonl"


def gold_line(query: str, **weights: float) -> str:
    values = {"visual": 0.4, "audio": 0.2, "transcription": 0.2, "metadata": 0.2, **weights}
    return json.dumps({"query": query, **values, "reasoning": "Labelled by a person."})


def test_plan_refuses_a_bad_gold_set_numbering_every_bad_line_before_any_bedrock_call(s3) -> None:
    lines = [
        gold_line("a red car at night"),
        "{not json",
        gold_line("a dog barking", audio=-0.5),
        "",
        json.dumps({"query": "no weights at all"}),
        gold_line("  A RED car  at night "),  # the first query again, once normalised
    ]
    s3.put_object(Bucket=BUCKET, Key="imports/gold.jsonl", Body="\n".join(lines).encode())
    bedrock, _ = stubbed("bedrock")  # nothing stubbed: a Bedrock call would fail differently
    with pytest.raises(GoldSetInvalid) as raised:
        plan_run(event({"gold_s3_uri": GOLD_URI}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    message = str(raised.value)
    assert "4 lines are not distinct labelled examples" in message
    assert "line 2: " in message and "line 3: weight for 'audio' is negative" in message
    assert (
        "line 5: example is missing weights" in message and "line 6: repeats the query of line 1" in message
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")


def test_plan_refuses_a_missing_gold_set(s3) -> None:
    bedrock, _ = stubbed("bedrock")
    with pytest.raises(GoldSetInvalid, match="no such object"):
        plan_run(event({"gold_s3_uri": GOLD_URI}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)


def test_a_good_gold_set_is_recorded_in_the_manifest_and_the_run(s3) -> None:
    body = "\n".join(gold_line(f"gold query {n}") for n in range(12)) + "\n"
    s3.put_object(Bucket=BUCKET, Key="imports/gold.jsonl", Body=body.encode())
    bedrock, stubber = stubbed("bedrock")
    expect_models(stubber)
    result = plan_run(event({"gold_s3_uri": GOLD_URI}), settings=settings(), bedrock=bedrock, s3=s3, now=NOW)
    assert result["run"]["settings"]["gold_s3_uri"] == GOLD_URI
    assert result["run"]["settings"]["gate_reference"] == "teacher"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="runs/run-1/manifest.json")["Body"].read())
    assert manifest["gold"] == {"s3_uri": GOLD_URI, "examples": 12}


@pytest.mark.parametrize(
    "uri",
    [
        f"s3://{BUCKET}/runs/other/gold.jsonl",
        "s3://another-bucket/imports/gold.jsonl",
        f"s3://{BUCKET}/imports/",
    ],
)
def test_a_gold_set_must_be_one_object_under_imports(uri: str) -> None:
    with pytest.raises(
        InvalidInput, match="'gold_s3_uri' must name one object under s3://vsr-test-data/imports/"
    ):
        resolve({"gold_s3_uri": uri})


def test_a_gate_on_gold_needs_a_gold_set_and_a_run_cannot_bring_another() -> None:
    with pytest.raises(InvalidInput, match=r"gate_reference 'gold'.*has none"):
        resolve(GATE_REFERENCE="gold")
    configured = {"GATE_REFERENCE": "gold", "GOLD_S3_URI": GOLD_URI}
    assert resolve(**configured).gate_reference == "gold"
    assert resolve({"gold_s3_uri": GOLD_URI}, **configured).gold_s3_uri == GOLD_URI
    with pytest.raises(InvalidInput, match="the gate decides on the configured gold set"):
        resolve({"gold_s3_uri": f"s3://{BUCKET}/imports/easier.jsonl"}, **configured)


def test_a_resumed_run_keeps_its_gold_set() -> None:
    previous = {"gold_s3_uri": GOLD_URI}
    assert resolve(previous=previous).gold_s3_uri == GOLD_URI
    with pytest.raises(InvalidInput, match="'gold_s3_uri': run run-1 was started with"):
        resolve({"gold_s3_uri": f"s3://{BUCKET}/imports/other.jsonl"}, previous=previous)
