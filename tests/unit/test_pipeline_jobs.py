"""Start/check distillation and create/check deployment, every Bedrock request checked by Stubber."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from routing.errors import (
    BedrockRequestRejected,
    BedrockThrottled,
    DeploymentFailed,
    DeploymentTimedOut,
    DistillationFailed,
    DistillationStopped,
    DistillationTimedOut,
)
from routing.pipeline.deployment import check_run_deployment, create_run_deployment
from routing.pipeline.distillation import check_distillation, start_distillation
from routing.pipeline.names import run_names
from routing.pipeline.planning import POLL_BUDGETS
from routing.state import (
    CheckDeploymentEvent,
    CheckDistillationEvent,
    CreateDeploymentEvent,
    DatasetState,
    StartDistillationEvent,
)

from tests.pipeline_support import BUCKET, ROLE_ARN, run_state, settings, stubbed

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
JOB_NAME = "vsr-test-run-1-distillation"
JOB_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/abcdef123456"
)
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef123456"
DEPLOYMENT_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
DATASET = DatasetState(
    train_key="runs/run-1/dataset/train.jsonl",
    holdout_key="runs/run-1/dataset/holdout.jsonl",
    stats_key="runs/run-1/dataset/stats.json",
    train_count=200,
    holdout_count=100,
)
# Tokens are derived from the run id (routing.pipeline.names): the same on every attempt.
NAMES = run_names("vsr-test", "run-1")
TAGS = [
    {"key": "project", "value": "vsr"},
    {"key": "stage", "value": "test"},
    {"key": "run_id", "value": "run-1"},
]


def job(status: str, **extra) -> dict:
    return {
        "jobArn": JOB_ARN,
        "jobName": JOB_NAME,
        "outputModelName": "vsr-test-run-1",
        "roleArn": ROLE_ARN,
        "status": status,
        "creationTime": NOW - timedelta(hours=1),
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
        "trainingDataConfig": {"s3Uri": f"s3://{BUCKET}/runs/run-1/dataset/train.jsonl"},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/runs/run-1/distillation-output/"},
        **extra,
    }


def expected_job_request(training: dict | None = None) -> dict:
    return {
        "jobName": JOB_NAME,
        "customModelName": "vsr-test-run-1",
        "roleArn": ROLE_ARN,
        "clientRequestToken": NAMES.job_token,
        "baseModelIdentifier": "amazon.nova-micro-v1:0:128k",
        "customizationType": "DISTILLATION",
        "trainingDataConfig": training or {"s3Uri": f"s3://{BUCKET}/runs/run-1/dataset/train.jsonl"},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/runs/run-1/distillation-output/"},
        "customizationConfig": {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": "us.amazon.nova-pro-v1:0",
                    "maxResponseLengthForInference": 1000,
                }
            }
        },
        "jobTags": TAGS,
        "customModelTags": TAGS,
    }


def start(bedrock, state=None, dataset=DATASET):
    return start_distillation(
        StartDistillationEvent(run=state or run_state(), dataset=dataset),
        settings=settings(),
        bedrock=bedrock,
        now=NOW,
    )


# ---------------------------------------------------------------------------------- distillation


def test_start_creates_the_distillation_job() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_model_customization_job", "ResourceNotFoundException", "no job",
                             expected_params={"jobIdentifier": JOB_NAME})  # fmt: skip
    stubber.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, expected_job_request())
    state = start(bedrock)
    stubber.assert_no_pending_responses()
    assert state == {
        "job_arn": JOB_ARN,
        "job_name": JOB_NAME,
        "status": "InProgress",
        "custom_model_arn": None,
        "deadline": (NOW + timedelta(hours=48)).isoformat(),
        "polls": 0,
    }


def test_start_from_invocation_logs_filters_the_router_calls() -> None:
    bedrock, stubber = stubbed("bedrock")
    training = {
        "invocationLogsConfig": {
            "usePromptResponse": False,
            "invocationLogSource": {"s3Uri": "s3://vsr-test-data/invocation-logs/AWSLogs/"},
            "requestMetadataFilters": {"equals": {"app": "vsr-test-router"}},
        }
    }
    stubber.add_client_error("get_model_customization_job", "ResourceNotFoundException", "no job")
    stubber.add_response(
        "create_model_customization_job", {"jobArn": JOB_ARN}, expected_job_request(training)
    )
    dataset = DATASET.model_copy(update={"train_key": None, "train_count": 0})
    start(bedrock, run_state(invocation_logs_s3_uri="s3://vsr-test-data/invocation-logs/AWSLogs/"), dataset)
    stubber.assert_no_pending_responses()


def test_start_reuses_the_runs_job_and_never_creates_a_second() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("InProgress"), {"jobIdentifier": JOB_NAME})
    state = start(bedrock)
    stubber.assert_no_pending_responses()
    assert state["job_arn"] == JOB_ARN and state["status"] == "InProgress"
    # The deadline counts from the job's creation, not from the rerun.
    assert state["deadline"] == (NOW - timedelta(hours=1) + timedelta(hours=48)).isoformat()


def test_start_reuses_a_completed_job_with_its_model() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("Completed", outputModelArn=MODEL_ARN))
    assert start(bedrock)["custom_model_arn"] == MODEL_ARN


def test_start_after_a_concurrent_create_reads_the_job() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_model_customization_job", "ResourceNotFoundException", "no job")
    stubber.add_client_error("create_model_customization_job", "ConflictException", "name in use")
    stubber.add_response("get_model_customization_job", job("InProgress"), {"jobIdentifier": JOB_NAME})
    assert start(bedrock)["job_arn"] == JOB_ARN


def test_start_throttled_is_retryable() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_model_customization_job", "ThrottlingException", "slow down")
    with pytest.raises(BedrockThrottled):
        start(bedrock)


def check(bedrock, polls: int = 0, now: datetime = NOW, deadline: datetime | None = None):
    current = {
        "job_arn": JOB_ARN,
        "job_name": JOB_NAME,
        "status": "InProgress",
        "custom_model_arn": None,
        "deadline": (deadline or NOW + timedelta(hours=10)).isoformat(),
        "polls": polls,
    }
    return check_distillation(
        CheckDistillationEvent(run=run_state(), distillation=current), bedrock=bedrock, now=now
    )


@pytest.mark.parametrize("status", ["InProgress", "Stopping"])
def test_check_loops_while_running(status: str) -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job(status), {"jobIdentifier": JOB_ARN})
    state = check(bedrock, polls=4)
    assert (state["status"], state["polls"], state["custom_model_arn"]) == (status, 5, None)


def test_check_completed_carries_the_custom_model() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("Completed", outputModelArn=MODEL_ARN))
    assert check(bedrock)["custom_model_arn"] == MODEL_ARN


def test_check_failed_carries_bedrocks_message() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response(
        "get_model_customization_job", job("Failed", failureMessage="Input data has 99 records")
    )
    with pytest.raises(DistillationFailed, match="failed: Input data has 99 records"):
        check(bedrock)


def test_check_stopped_is_its_own_error() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("Stopped"))
    with pytest.raises(DistillationStopped, match="was stopped"):
        check(bedrock)


def test_a_job_past_its_deadline_times_out_with_what_to_do() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("InProgress"))
    with pytest.raises(DistillationTimedOut, match="stop-model-customization-job"):
        check(bedrock, now=NOW + timedelta(hours=11))


def test_the_poll_budget_bounds_the_loop() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_model_customization_job", job("InProgress"))
    with pytest.raises(DistillationTimedOut, match=f"after {POLL_BUDGETS['job']} polls"):
        check(bedrock, polls=POLL_BUDGETS["job"] - 1)


# ---------------------------------------------------------------------------------- deployment


def distilled() -> dict:
    return {
        "job_arn": JOB_ARN,
        "job_name": JOB_NAME,
        "status": "Completed",
        "custom_model_arn": MODEL_ARN,
        "deadline": NOW.isoformat(),
        "polls": 3,
    }


def deployment(status: str, **extra) -> dict:
    return {
        "customModelDeploymentArn": DEPLOYMENT_ARN,
        "modelDeploymentName": "vsr-test-run-1",
        "modelArn": MODEL_ARN,
        "createdAt": NOW - timedelta(minutes=5),
        "status": status,
        **extra,
    }


def create(bedrock):
    event = CreateDeploymentEvent(run=run_state(), distillation=distilled())
    return create_run_deployment(event, settings=settings(), bedrock=bedrock, now=NOW)


def test_create_deploys_the_distilled_model_on_demand() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", "none",
                             expected_params={"customModelDeploymentIdentifier": "vsr-test-run-1"})  # fmt: skip
    stubber.add_response(
        "create_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT_ARN},
        {
            "modelDeploymentName": "vsr-test-run-1",
            "modelArn": MODEL_ARN,
            "description": "vsr-test distilled router model, run run-1",
            "tags": TAGS,
            "clientRequestToken": NAMES.deployment_token,
        },
    )
    state = create(bedrock)
    stubber.assert_no_pending_responses()
    assert state == {
        "deployment_arn": DEPLOYMENT_ARN,
        "deployment_name": "vsr-test-run-1",
        "status": "Creating",
        "deadline": (NOW + timedelta(minutes=120)).isoformat(),
        "polls": 0,
    }


def test_create_reuses_the_runs_deployment() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_custom_model_deployment", deployment("Active"))
    state = create(bedrock)
    stubber.assert_no_pending_responses()
    assert (state["deployment_arn"], state["status"]) == (DEPLOYMENT_ARN, "Active")


def test_create_refuses_a_failed_deployment_of_the_run() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_custom_model_deployment", deployment("Failed", failureMessage="no capacity"))
    with pytest.raises(DeploymentFailed, match="no capacity"):
        create(bedrock)


def check_deployment(bedrock, polls: int = 0, now: datetime = NOW):
    current = {
        "deployment_arn": DEPLOYMENT_ARN,
        "deployment_name": "vsr-test-run-1",
        "status": "Creating",
        "deadline": (NOW + timedelta(minutes=30)).isoformat(),
        "polls": polls,
    }
    return check_run_deployment(
        CheckDeploymentEvent(run=run_state(), deployment=current), bedrock=bedrock, now=now
    )


def test_check_deployment_statuses() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_custom_model_deployment", deployment("Creating"),
                         {"customModelDeploymentIdentifier": DEPLOYMENT_ARN})  # fmt: skip
    stubber.add_response("get_custom_model_deployment", deployment("Active"))
    stubber.add_response("get_custom_model_deployment", deployment("Failed", failureMessage="quota"))
    assert check_deployment(bedrock)["status"] == "Creating"
    assert check_deployment(bedrock, polls=1)["polls"] == 2
    with pytest.raises(DeploymentFailed, match="failed: quota"):
        check_deployment(bedrock)


def test_a_deployment_past_its_deadline_times_out() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_response("get_custom_model_deployment", deployment("Creating"))
    with pytest.raises(DeploymentTimedOut):
        check_deployment(bedrock, now=NOW + timedelta(hours=1))


def test_create_after_a_concurrent_create_reads_the_deployment() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", "none")
    stubber.add_client_error("create_custom_model_deployment", "ConflictException", "name in use")
    stubber.add_response("get_custom_model_deployment", deployment("Creating"),
                         {"customModelDeploymentIdentifier": "vsr-test-run-1"})  # fmt: skip
    state = create(bedrock)
    stubber.assert_no_pending_responses()
    assert (state["deployment_arn"], state["status"]) == (DEPLOYMENT_ARN, "Creating")


def test_a_resumed_run_counts_the_deployment_deadline_from_its_creation() -> None:
    """Resuming does not restart the clock: a deployment still Creating past its deadline times out at once."""
    bedrock, stubber = stubbed("bedrock")
    created = NOW - timedelta(hours=3)
    stubber.add_response("get_custom_model_deployment", deployment("Creating", createdAt=created))
    stubber.add_response("get_custom_model_deployment", deployment("Creating", createdAt=created))
    state = create(bedrock)
    assert state["deadline"] == (created + timedelta(minutes=120)).isoformat()
    with pytest.raises(DeploymentTimedOut, match="deployment_deadline_minutes") as raised:
        check_run_deployment(
            CheckDeploymentEvent(run=run_state(), deployment=state), bedrock=bedrock, now=NOW
        )
    assert "resume" in str(raised.value) and "keep waiting" not in str(raised.value)


def test_a_name_clash_answered_as_validation_exception_reuses_the_deployment() -> None:
    """botocore's model of CreateCustomModelDeployment lists no ConflictException: a taken name is a ValidationException."""
    bedrock, stubber = stubbed("bedrock")
    errors = [
        shape.name
        for shape in bedrock.meta.service_model.operation_model("CreateCustomModelDeployment").error_shapes
    ]
    assert "ConflictException" not in errors and "ValidationException" in errors
    stubber.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", "none")
    stubber.add_client_error(
        "create_custom_model_deployment",
        "ValidationException",
        "A model deployment with the name vsr-test-run-1 already exists.",
        http_status_code=400,
    )
    stubber.add_response("get_custom_model_deployment", deployment("Creating"),
                         {"customModelDeploymentIdentifier": "vsr-test-run-1"})  # fmt: skip
    state = create(bedrock)
    stubber.assert_no_pending_responses()
    assert (state["deployment_arn"], state["status"]) == (DEPLOYMENT_ARN, "Creating")


def test_a_validation_exception_without_a_deployment_of_that_name_is_rejected() -> None:
    bedrock, stubber = stubbed("bedrock")
    stubber.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", "none")
    stubber.add_client_error("create_custom_model_deployment", "ValidationException", "modelArn is invalid")
    stubber.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", "none")
    with pytest.raises(BedrockRequestRejected, match="modelArn is invalid"):
        create(bedrock)
    stubber.assert_no_pending_responses()
