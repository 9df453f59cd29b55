"""The pipeline definition really executes (moto), with the real handlers and a Bedrock stand-in.

Each test starts one or two executions through cdk_app.local_pipeline and checks where
they end, what they wrote, what they asked Bedrock for, and what they notified.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from routing.pipeline.clients import override_clock

from .fake_bedrock import FakeBedrock, foundation_model
from .pipeline_support import sandbox

HAPPY_PATH = [
    "Plan", "Generate", "PrepareDataset", "StartDistillation", "IsDistillationComplete", "WaitForDistillation",
    "CheckDistillation", "IsDistillationComplete", "WaitForDistillation", "CheckDistillation",
    "IsDistillationComplete", "CreateDeployment", "IsDeploymentActive", "WaitForDeployment", "CheckDeployment",
    "IsDeploymentActive", "WaitForDeployment", "CheckDeployment", "IsDeploymentActive", "DeploymentReady",
]  # fmt: skip


def top_level(states: list[str]) -> list[str]:
    return [name for name in states if name != "GenerateBatch"]


def failure(result) -> dict:
    """The Lambda error Step Functions reported as the execution's cause."""
    return json.loads(result.cause)


def test_happy_path_to_an_active_deployment() -> None:
    with sandbox() as box:
        result = box.run({"examples": 300})
        assert result.status == "SUCCEEDED", result.cause
        assert top_level(result.states_entered()) == HAPPY_PATH
        assert result.states_entered().count("GenerateBatch") == 13  # ceil(315 / 25)
        output = result.output
        # The state contract (PIPELINE_CONTRACT): one key per step, small values.
        assert set(output) == {"run", "generation", "dataset", "distillation", "deployment"}
        assert output["dataset"]["train_count"] == 200 and output["dataset"]["holdout_count"] == 100
        assert output["distillation"]["status"] == "Completed"
        assert output["distillation"]["custom_model_arn"].startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model/")
        assert output["deployment"]["status"] == "Active"
        assert output["deployment"]["deployment_arn"].startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/")
        # What was asked of Bedrock: one job, one deployment, of the run's names.
        (job,) = box.bedrock.jobs.values()
        assert job["request"]["jobName"] == "vsr-test-run-1-distillation"
        assert job["request"]["trainingDataConfig"] == {"s3Uri": "s3://vsr-test-data/runs/run-1/dataset/train.jsonl"}
        (deployment,) = box.bedrock.deployments.values()
        assert deployment["request"]["modelArn"] == output["distillation"]["custom_model_arn"]
        # What was written: the S3 layout contract.
        keys = box.keys("runs/run-1/")
        assert {"runs/run-1/manifest.json", "runs/run-1/dataset/train.jsonl", "runs/run-1/dataset/holdout.jsonl",
                "runs/run-1/dataset/stats.json"} <= set(keys)  # fmt: skip
        assert sum(key.startswith("runs/run-1/generated/part-") for key in keys) == 13
        assert box.local.notifications() == []


@pytest.mark.slow
def test_default_input_ten_thousand_examples_in_at_most_500_calls_with_small_payloads() -> None:
    with sandbox() as box:
        result = box.run({})
        assert result.status == "SUCCEEDED", result.cause
        calls = box.bedrock.count("Converse")
        assert calls <= 500 and calls == result.states_entered().count("GenerateBatch")
        assert result.output["dataset"]["train_count"] == 9_900
        # Every state input/output, Map item and task result stays far below Step Functions' 256 KiB.
        assert result.max_payload_bytes() < 64 * 1024
        items = [json.loads(i.payload) if isinstance(i.payload, str) else i.payload for i in result.invocations_of("generate")]
        assert max(len(json.dumps(item)) for item in items) < 4 * 1024
        # Room in the 25,000-event history for a day-long job and the evaluation.
        assert len(result.history) < 5_000


def test_job_failed_ends_the_run_with_bedrocks_message_and_a_notification() -> None:
    fake = FakeBedrock()
    fake.job_statuses = ["InProgress", "Failed"]
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert result.status == "FAILED"
        assert result.error == "DistillationFailed"
        assert "the training data has records with too few tokens" in failure(result)["errorMessage"]
        assert result.states_entered()[-3:] == ["CheckDistillationFailed", "NotifyFailure", "Failed"]
        assert fake.count("CreateCustomModelDeployment") == 0
        (note,) = box.local.notifications()
        assert note["subject"] == "vsr-test: distillation run failed"
        assert '"step":"CheckDistillation"' in note["message"] and "DistillationFailed" in note["message"]
        assert "run-1" in note["message"]


def test_job_stopped_is_a_named_failure() -> None:
    fake = FakeBedrock()
    fake.job_statuses = ["Stopping", "Stopped"]
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert (result.status, result.error) == ("FAILED", "DistillationStopped")
        assert result.states_entered().count("CheckDistillation") == 2


def test_deployment_failed_is_a_named_failure() -> None:
    fake = FakeBedrock()
    fake.deployment_statuses = ["Creating", "Failed"]
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert (result.status, result.error) == ("FAILED", "DeploymentFailed")
        assert "Insufficient capacity" in failure(result)["errorMessage"]
        assert '"step":"CheckDeployment"' in box.local.notifications()[0]["message"]


def test_teacher_throttling_is_retried_with_backoff_then_succeeds() -> None:
    fake = FakeBedrock()
    fake.throttle_converse = 3
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert result.status == "SUCCEEDED", result.cause
        throttled = [i for i in result.invocations_of("generate") if i.error == "TeacherThrottled"]
        assert len(throttled) == 3
        assert fake.count("Converse") == 13 + 3
        # Full jitter: each delay is drawn from [0, min(10 * 2^(attempt-1), 300)] s.
        assert len(box.local.retry_delays) == 3 and all(0 <= delay <= 300 for delay in box.local.retry_delays)


def test_invalid_input_fails_in_plan_before_any_bedrock_call() -> None:
    with sandbox() as box:
        result = box.run({"examples": 150, "colour": "blue"})
        assert (result.status, result.error) == ("FAILED", "InvalidInput")
        message = failure(result)["errorMessage"]
        assert "unknown keys 'colour'" in message
        assert box.bedrock.calls == []
        assert top_level(result.states_entered()) == ["Plan", "PlanFailed", "NotifyFailure", "Failed"]
        assert '"step":"Plan"' in box.local.notifications()[0]["message"]


def test_a_model_past_end_of_life_fails_before_any_teacher_call() -> None:
    fake = FakeBedrock()
    fake.models["amazon.nova-pro-v1:0"] = foundation_model(
        "amazon.nova-pro-v1:0", legacy_until=datetime.now(UTC) - timedelta(days=1)
    )
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert (result.status, result.error) == ("FAILED", "ModelEndOfLife")
        assert "change teacher_model_id" in failure(result)["errorMessage"]
        assert fake.count("Converse") == 0 and fake.count("GetFoundationModel") >= 1


def test_a_legacy_teacher_is_carried_as_a_warning() -> None:
    fake = FakeBedrock()
    fake.models["amazon.nova-pro-v1:0"] = foundation_model(
        "amazon.nova-pro-v1:0", legacy_until=datetime.now(UTC) + timedelta(days=30), distillable=True
    )
    with sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert result.status == "SUCCEEDED", result.cause
        assert any("Legacy" in warning for warning in result.output["run"]["warnings"])
        manifest = json.loads(box.object("runs/run-1/manifest.json"))
        assert manifest["warnings"] == result.output["run"]["warnings"]


def test_rerunning_a_run_id_pays_for_nothing_twice() -> None:
    fake = FakeBedrock()
    fake.job_statuses = ["InProgress", "Completed"]
    with sandbox(bedrock=fake) as box:
        first = box.run({"examples": 300}, name="run-1")
        assert first.status == "SUCCEEDED", first.cause
        teacher_calls = fake.count("Converse")
        # A new execution resuming the same run: same S3 prefix, same job, same deployment.
        second = box.run({"run_id": "run-1"}, name="run-1-resumed")
        assert second.status == "SUCCEEDED", second.cause
        assert fake.count("Converse") == teacher_calls
        assert fake.count("CreateModelCustomizationJob") == 1 and len(fake.jobs) == 1
        assert fake.count("CreateCustomModelDeployment") == 1 and len(fake.deployments) == 1
        assert second.output["deployment"]["deployment_arn"] == first.output["deployment"]["deployment_arn"]
        assert second.output["run"]["settings"]["examples"] == 300  # kept from the first execution
        # The completed job is not waited for again.
        assert "WaitForDistillation" not in second.states_entered()


def test_a_stuck_job_ends_at_its_deadline_with_a_named_error() -> None:
    fake = FakeBedrock()
    fake.job_statuses = ["InProgress"]
    hours = count()
    start = datetime.now(UTC)
    # Every reading of the clock is one hour later: the 48 h deadline passes after ~48 polls.
    with override_clock(lambda: start + timedelta(hours=next(hours))), sandbox(bedrock=fake) as box:
        result = box.run({"examples": 300})
        assert (result.status, result.error) == ("FAILED", "DistillationTimedOut")
        assert "stop-model-customization-job" in failure(result)["errorMessage"]
        assert 40 <= result.states_entered().count("CheckDistillation") <= 50
