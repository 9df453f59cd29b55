"""The pipeline definition really executes (moto), with the real handlers and a Bedrock stand-in.

Each test starts one or two executions through cdk_app.local.pipeline and checks where
they end, what they wrote, what they asked Bedrock for, and what they notified.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from botocore.exceptions import ReadTimeoutError
from routing.clients import override_clock
from routing.pipeline.planning import EVENTS_PER_BATCH, EVENTS_PER_POLL

from cdk_app.local.catalogue import FOUNDATION_MODELS, FoundationModel

from .pipeline_support import Sandbox

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

HAPPY_PATH = [
    "Plan", "Generate", "PrepareDataset", "StartDistillation", "TrainLocalModel", "IsDistillationComplete",
    "WaitForDistillation",
    "CheckDistillation", "IsDistillationComplete", "WaitForDistillation", "CheckDistillation",
    "IsDistillationComplete", "CreateDeployment", "IsDeploymentActive", "WaitForDeployment", "CheckDeployment",
    "IsDeploymentActive", "WaitForDeployment", "CheckDeployment", "IsDeploymentActive", "DeploymentReady",
    "Evaluate", "IsEvaluationComplete", "StartJudge", "IsJudgeRunning", "Report", "IsGatePassed",
]  # fmt: skip
SMALL = {"examples": 300, "judge": False}  # 13 teacher batches of up to 25; the judge has its own tests


def top_level(states: list[str]) -> list[str]:
    return [name for name in states if name != "GenerateBatch"]


def retired(end_of_life: datetime) -> FoundationModel:
    """The teacher (Nova Pro) as a Legacy model that reaches its end of life at `end_of_life`."""
    return replace(
        FOUNDATION_MODELS["amazon.nova-pro-v1:0"],
        lifecycle="LEGACY",
        legacy_time=end_of_life - timedelta(days=90),
        end_of_life=end_of_life,
    )


def failure(result) -> dict:
    """The Lambda error Step Functions reported as the execution's cause."""
    return json.loads(result.cause)


def test_happy_path_to_an_active_deployment(box: Sandbox) -> None:
    run = box.run_id
    result = box.run(SMALL)
    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    gate = "Promote" if output["report"]["gate"]["passed"] else "NotPromoted"
    assert top_level(result.states_entered()) == [*HAPPY_PATH, gate, "NotifyOutcome", "Succeeded"]
    assert result.states_entered().count("GenerateBatch") == 13  # ceil(315 / 25)
    # The state contract (PIPELINE_CONTRACT): one key per step, small values.
    assert set(output) == {
        "run", "generation", "dataset", "distillation", "local_model", "deployment", "evaluation", "judge", "report",
        "promotion",
    }  # fmt: skip
    assert output["judge"]["status"] == "Skipped"
    # Three models and the tier-0 model answer the 100 held-out queries.
    assert output["evaluation"]["answers"] == 4 * 100 and output["local_model"]["trained"]
    assert output["run"]["run_id"] == run and output["run"]["prefix"] == f"runs/{run}/"
    assert output["dataset"]["train_count"] == 200 and output["dataset"]["holdout_count"] == 100
    assert output["distillation"]["status"] == "Completed"
    assert output["distillation"]["custom_model_arn"].startswith(
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/"
    )
    assert output["deployment"]["status"] == "Active"
    assert output["deployment"]["deployment_arn"].startswith(
        "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/"
    )
    # What was asked of Bedrock: one job and one deployment, named from the run id.
    (job,) = box.bedrock.jobs.values()
    assert job.request["jobName"] == f"vsr-test-{run}-distillation"
    assert job.request["trainingDataConfig"] == {
        "s3Uri": f"s3://vsr-test-data/runs/{run}/dataset/train.jsonl"
    }
    (deployment,) = box.bedrock.deployments.values()
    assert deployment.name == f"vsr-test-{run}"
    assert deployment.model_arn == output["distillation"]["custom_model_arn"]
    # What was written: the S3 layout contract.
    keys = box.keys(f"runs/{run}/")
    for name in ("manifest.json", "dataset/train.jsonl", "dataset/holdout.jsonl", "dataset/stats.json"):
        assert f"runs/{run}/{name}" in keys
    assert sum(key.startswith(f"runs/{run}/generated/part-") for key in keys) == 13
    for name in ("report/report.json", "report/report.md", "report/report.html"):
        assert f"runs/{run}/{name}" in keys
    (outcome,) = box.notifications()  # the run outcome, with the gate verdict
    assert run in outcome["subject"] and "gate" in outcome["subject"]
    # The event counts Plan's history budget assumes (routing.pipeline.planning), read from the history.
    for wait in ("WaitForDistillation", "WaitForDeployment"):
        entered = [i for i, event in enumerate(result.history) if _entered(event) == wait]
        assert entered[1] - entered[0] <= EVENTS_PER_POLL, wait
    types = [event["type"] for event in result.history]
    generation = types[types.index("MapStateStarted") + 1 : types.index("MapStateSucceeded")]
    assert len(generation) <= 13 * (EVENTS_PER_BATCH - 3)  # 13 batches, none retried: 7 events each


def _entered(event: dict) -> str | None:
    return event.get("stateEnteredEventDetails", {}).get("name")


@pytest.mark.slow
def test_default_input_ten_thousand_examples_in_at_most_500_calls_with_small_payloads(box: Sandbox) -> None:
    result = box.run({}, timeout=240)
    assert result.status == "SUCCEEDED", result.cause
    calls = box.bedrock.count("Converse") - box.bedrock.routing_answers  # teacher calls only
    assert calls <= 500 and calls == result.states_entered().count("GenerateBatch")
    assert result.output["dataset"]["train_count"] == 9_900
    # Every state input/output, Map item and task result stays far below Step Functions' 256 KiB.
    assert result.max_payload_bytes() < 64 * 1024
    assert max(len(json.dumps(item.payload)) for item in result.invocations_of("generate")) < 4 * 1024
    # Room left in the 25,000-event history for a day-long job and the evaluation.
    assert len(result.history) < 5_000


def test_job_failed_ends_the_run_with_bedrocks_message_and_a_notification(box: Sandbox) -> None:
    box.bedrock.script.job_statuses = ["InProgress", "Failed"]
    result = box.run(SMALL)
    assert (result.status, result.error) == ("FAILED", "DistillationFailed")
    assert "the training data has records with too few tokens" in failure(result)["errorMessage"]
    assert result.states_entered()[-3:] == ["CheckDistillationFailed", "NotifyFailure", "Failed"]
    assert box.bedrock.count("CreateCustomModelDeployment") == 0
    (note,) = box.notifications()
    assert note["subject"] == "vsr-test: distillation run failed"
    assert (
        '"step":"CheckDistillation"' in note["message"] and '"Error":"DistillationFailed"' in note["message"]
    )
    assert "too few tokens" in note["message"]


def test_job_stopped_is_a_named_failure(box: Sandbox) -> None:
    box.bedrock.script.job_statuses = ["Stopping", "Stopped"]
    result = box.run(SMALL)
    assert (result.status, result.error) == ("FAILED", "DistillationStopped")
    assert result.states_entered().count("CheckDistillation") == 2


def test_deployment_failed_is_a_named_failure(box: Sandbox) -> None:
    box.bedrock.script.deployment_statuses = ["Creating", "Failed"]
    result = box.run(SMALL)
    assert (result.status, result.error) == ("FAILED", "DeploymentFailed")
    assert "Insufficient capacity" in failure(result)["errorMessage"]
    assert '"step":"CheckDeployment"' in box.notifications()[0]["message"]


def test_teacher_throttling_is_retried_with_backoff_then_succeeds(box: Sandbox) -> None:
    box.bedrock.script.throttle_converse = 3
    delays_before = len(box.local.retry_delays)
    result = box.run(SMALL)
    assert result.status == "SUCCEEDED", result.cause
    assert len([i for i in result.invocations_of("generate") if i.error == "TeacherThrottled"]) == 3
    assert box.bedrock.count("Converse") - box.bedrock.routing_answers == 13 + 3
    # Full jitter: each delay is drawn from [0, min(10 * 2^(attempt - 1), 300)] s.
    delays = box.local.retry_delays[delays_before:]
    assert len(delays) == 3 and all(0 <= delay <= 300 for delay in delays)


def test_invalid_input_fails_in_plan_before_any_bedrock_call(box: Sandbox) -> None:
    result = box.run({"examples": 150, "colour": "blue"})
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    assert "unknown keys 'colour'" in failure(result)["errorMessage"]
    assert box.bedrock.calls == []
    assert top_level(result.states_entered()) == ["Plan", "PlanFailed", "NotifyFailure", "Failed"]
    assert '"step":"Plan"' in box.notifications()[0]["message"]


def test_the_gate_cannot_be_switched_off_from_the_input(box: Sandbox) -> None:
    off = {"min_mean_score": 1, "max_score_drop": 4, "min_json_validity": 0, "max_p95_latency_ratio": 100}
    result = box.run({**SMALL, "gate": off})
    assert (result.status, result.error) == ("FAILED", "InvalidInput")
    message = failure(result)["errorMessage"]
    assert all(f"'gate.{key}'" in message for key in off) and "may only tighten it" in message
    assert box.bedrock.calls == []  # nothing paid for, nothing deployed, nothing promoted
    assert top_level(result.states_entered()) == ["Plan", "PlanFailed", "NotifyFailure", "Failed"]


def test_a_model_past_end_of_life_fails_before_any_teacher_call(box: Sandbox) -> None:
    box.bedrock.foundation_models["amazon.nova-pro-v1:0"] = retired(datetime.now(UTC) - timedelta(days=1))
    result = box.run(SMALL)
    assert (result.status, result.error) == ("FAILED", "ModelEndOfLife")
    assert "change teacher_model_id" in failure(result)["errorMessage"]
    assert box.bedrock.count("Converse") == 0 and box.bedrock.count("GetFoundationModel") >= 1


def test_a_legacy_teacher_is_carried_as_a_warning(box: Sandbox) -> None:
    box.bedrock.foundation_models["amazon.nova-pro-v1:0"] = retired(datetime.now(UTC) + timedelta(days=30))
    result = box.run(SMALL)
    assert result.status == "SUCCEEDED", result.cause
    warnings = result.output["run"]["warnings"]
    assert any("teacher_model_id" in warning and "Legacy" in warning for warning in warnings)
    assert json.loads(box.object(f"runs/{box.run_id}/manifest.json"))["warnings"] == warnings


def test_rerunning_a_run_id_pays_for_nothing_twice(box: Sandbox) -> None:
    first = box.run(SMALL)
    assert first.status == "SUCCEEDED", first.cause
    teacher_calls = box.bedrock.count("Converse")
    # A new execution resuming the same run: same S3 prefix, same job, same deployment.
    second = box.run({"run_id": box.run_id}, name=f"{box.run_id}-resumed")
    assert second.status == "SUCCEEDED", second.cause
    assert box.bedrock.count("Converse") == teacher_calls
    assert box.bedrock.count("CreateModelCustomizationJob") == 1 and len(box.bedrock.jobs) == 1
    assert box.bedrock.count("CreateCustomModelDeployment") == 1 and len(box.bedrock.deployments) == 1
    assert second.output["deployment"]["deployment_arn"] == first.output["deployment"]["deployment_arn"]
    assert second.output["run"]["settings"]["examples"] == 300  # kept from the first execution
    assert "WaitForDistillation" not in second.states_entered()  # the completed job is not waited for


def test_a_stuck_job_ends_at_its_deadline_with_a_named_error(box: Sandbox) -> None:
    box.bedrock.script.job_statuses = ["InProgress"]
    hours = count()
    start = datetime.now(UTC)
    # Every reading of the clock is one hour later: the 48 h deadline passes after ~48 polls.
    with override_clock(lambda: start + timedelta(hours=next(hours))):
        result = box.run(SMALL)
    assert (result.status, result.error) == ("FAILED", "DistillationTimedOut")
    assert "stop-model-customization-job" in failure(result)["errorMessage"]
    assert 40 <= result.states_entered().count("CheckDistillation") <= 50


# ---------------------------------------------------------------------------------- runs that recover


def test_a_batch_that_fails_for_good_with_a_transport_error_is_tolerated_and_reported(box: Sandbox) -> None:
    """One teacher call always times out on reading (botocore's ReadTimeoutError, not a ClientError)."""

    def fault(prompt: str) -> Exception | None:
        # Batch 0 is the only one asking for visual queries at easy difficulty (13 batches).
        if "the visual signal" in prompt and "Difficulty: easy" in prompt:
            return ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")
        return None

    box.bedrock.script.teacher_fault = fault
    result = box.run(SMALL)
    assert result.status == "SUCCEEDED", result.cause
    failed = [i for i in result.invocations_of("generate") if i.error]
    assert {i.error for i in failed} == {"TeacherThrottled"} and len(
        failed
    ) == 1 + 8  # first call + MaxAttempts
    assert "BatchFailed" in result.states_entered()
    assert result.output["dataset"]["failed_batches"] == 1
    assert f"runs/{box.run_id}/generated/part-00000.jsonl" not in box.keys(f"runs/{box.run_id}/generated/")
    report = json.loads(box.object(f"runs/{box.run_id}/report/report.json"))
    assert report["dataset"]["failed_batches"] == 1
    assert any("1 teacher batches failed" in warning for warning in report["warnings"])


def test_garbage_teacher_answers_abort_early_and_a_resumed_run_redoes_the_empty_parts(box: Sandbox) -> None:
    box.bedrock.script.teacher_defect_rate = 1.0  # a teacher ignoring the format
    first = box.run(SMALL)
    assert (first.status, first.error) == ("FAILED", "GenerationAborted")
    assert "no more batches are paid for" in failure(first)["errorMessage"]
    paid = box.bedrock.count("Converse")
    assert 5 <= paid < 13  # the first 5 batches, and those already running: never all 13
    assert '"step":"Generate"' in box.notifications()[0]["message"]

    box.bedrock.script.teacher_defect_rate = 0.0  # the teacher fixed: the empty parts are not "done"
    second = box.run({"run_id": box.run_id}, name=f"{box.run_id}-resumed")
    assert second.status == "SUCCEEDED", second.cause
    assert box.bedrock.count("Converse") - box.bedrock.routing_answers == paid + 13
    assert second.output["dataset"]["train_count"] == 200
