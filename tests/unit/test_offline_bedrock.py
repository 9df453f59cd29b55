"""The offline stand-in for Amazon Bedrock (cdk_app/local/): it must reject what the real
client rejects, fail like Bedrock, move resources through Bedrock's lifecycles, answer the pipeline's
real prompts in a shape the routing core parses, label its output, and be deterministic."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws
from routing import (
    SEED_SYSTEM_PROMPT,
    normalise_query,
    parse_decision,
    parse_labelled_examples,
    system_prompt,
)
from routing.evaluation.judge import create_job_request, judge_scores
from routing.pipeline.generation import batch_themes, teacher_prompt, teacher_system_prompt
from routing.pipeline.planning import GENERATION_OVERSHOOT, max_tokens_for, plan_batches
from routing.state import Batch

from cdk_app.local.account import DEFAULT_ACCOUNT
from cdk_app.local.answers import OFFLINE_LABEL
from cdk_app.local.bedrock import offline_clients

MODALITIES = ["visual", "audio", "transcription", "metadata"]
BUCKET = "vsr-offline-test"
ROLE_ARN = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/vsr-distillation"
STUDENT = "amazon.nova-micro-v1:0:128k"
TEACHER = "us.amazon.nova-pro-v1:0"
BASELINE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
QUERIES = [
    "CEO discussing quarterly earnings",
    "sunset over mountains",
    "sound of rain on a tin roof",
    "videos uploaded in 2019 by NatureWorks",
    "Olivia talking about growing up in poverty",
    "drone shot of a beach in 4k",
    "jazz",
    "interview with a chef with loud music in the background",
]


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def training_records(count: int) -> bytes:
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": SEED_SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": "sunset over mountains"}]}],
    }
    return "".join(json.dumps(record) + "\n" for _ in range(count)).encode()


def job_request(name: str = "vsr-dev-distil-run-1", data_key: str = "runs/run-1/dataset/train.jsonl") -> dict:
    return {
        "jobName": name,
        "customModelName": f"{name}-model",
        "roleArn": ROLE_ARN,
        "baseModelIdentifier": STUDENT,
        "customizationType": "DISTILLATION",
        "trainingDataConfig": {"s3Uri": f"s3://{BUCKET}/{data_key}"},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/runs/run-1/distillation-output/"},
        "customizationConfig": {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": TEACHER,
                    "maxResponseLengthForInference": 1000,
                }
            }
        },
        "clientRequestToken": f"{name}-token",
    }


def converse(
    runtime: Any, model_id: str, text: str, *, system: str = SEED_SYSTEM_PROMPT, max_tokens: int = 300
):
    return runtime.converse(
        modelId=model_id,
        system=[{"text": system}],
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
        requestMetadata={"run_id": "run-1", "purpose": "test"},
    )


def answer_text(response: dict) -> str:
    return "".join(block["text"] for block in response["output"]["message"]["content"])


def deployed(clients: dict, s3: Any) -> str:
    """A Completed distillation job's model, deployed and Active; returns the deployment ARN."""
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/train.jsonl", Body=training_records(120))
    bedrock = clients["bedrock"]
    job_arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    while (job := bedrock.get_model_customization_job(jobIdentifier=job_arn))["status"] == "InProgress":
        pass
    arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="vsr-dev-run-1", modelArn=job["outputModelArn"]
    )["customModelDeploymentArn"]
    while bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"] == "Creating":
        pass
    return arn


# ---------------------------------------------------------------------------- requests and errors


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        (
            "bedrock-runtime",
            "converse",
            {
                "modelId": "amazon.nova-micro-v1:0",
                "system": "not a list",
                "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                "inferenceConfig": {"maxTokens": "100"},
            },
        ),
        ("bedrock", "create_model_customization_job", {**job_request(), "roleArn": None, "jobName": ""}),
        ("bedrock", "create_custom_model_deployment", {"modelDeploymentName": "vsr-run-1"}),
        ("bedrock", "get_foundation_model", {"modelIdentifier": 42}),
    ],
)
def test_an_invalid_request_fails_exactly_like_the_real_client(
    service: str, operation: str, params: dict
) -> None:
    real = boto3.client(service, region_name="us-east-1")
    with Stubber(real) as stubber:
        stubber.add_client_error(operation)  # never reached: validation fails first
        with pytest.raises(ParamValidationError) as expected:
            getattr(real, operation)(**params)
    stand_in = offline_clients()[service]
    with pytest.raises(ParamValidationError) as got:
        getattr(stand_in, operation)(**params)
    assert str(got.value) == str(expected.value)


def test_server_side_constraints_are_a_validation_exception_like_bedrocks() -> None:
    bedrock = offline_clients()["bedrock"]
    with pytest.raises(bedrock.exceptions.ValidationException) as error:
        bedrock.create_custom_model_deployment(
            modelDeploymentName="not a valid name!",
            modelArn=f"arn:aws:bedrock:us-east-1:{DEFAULT_ACCOUNT}:custom-model/{STUDENT}/abcdefghijkl",
        )
    message = error.value.response["Error"]["Message"]
    assert message.startswith(
        "1 validation error detected: Value 'not a valid name!' at 'modelDeploymentName'"
    )
    assert "regular expression pattern" in message
    assert error.value.operation_name == "CreateCustomModelDeployment"


def test_request_metadata_breaking_bedrocks_pattern_is_rejected() -> None:
    runtime = offline_clients()["bedrock-runtime"]
    with pytest.raises(ClientError) as error:
        runtime.converse(
            modelId="amazon.nova-micro-v1:0",
            messages=[{"role": "user", "content": [{"text": "jazz"}]}],
            inferenceConfig={"maxTokens": 100},
            requestMetadata={"run": "run #1 (retry!)"},
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "requestMetadata.value" in error.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_model_customization_job", {"jobIdentifier": "vsr-dev-distil-missing"}),
        ("get_custom_model_deployment", {"customModelDeploymentIdentifier": "vsr-dev-missing"}),
        ("get_foundation_model", {"modelIdentifier": "amazon.nova-giga-v9:0"}),
        (
            "get_evaluation_job",
            {"jobIdentifier": f"arn:aws:bedrock:us-east-1:{DEFAULT_ACCOUNT}:evaluation-job/abcdefghijkl"},
        ),
    ],
)
def test_unknown_resources_raise_the_modeled_resource_not_found(operation: str, params: dict) -> None:
    bedrock = offline_clients()["bedrock"]
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as error:
        getattr(bedrock, operation)(**params)
    assert isinstance(error.value, ClientError)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_exceptions_are_the_real_clients_modeled_classes() -> None:
    stand_in = offline_clients()["bedrock-runtime"]
    real = boto3.client("bedrock-runtime", region_name="us-east-1")
    names = {name for name in dir(real.exceptions) if name.endswith("Exception")}
    assert names == {name for name in dir(stand_in.exceptions) if name.endswith("Exception")}
    assert issubclass(stand_in.exceptions.ThrottlingException, ClientError)
    assert stand_in.meta.service_model.service_name == "bedrock-runtime"


def test_operations_it_does_not_simulate_say_so() -> None:
    bedrock = offline_clients()["bedrock"]
    with pytest.raises(NotImplementedError, match="offline stand-in"):
        bedrock.create_provisioned_model_throughput()
    with pytest.raises(AttributeError):
        bedrock.not_an_operation()


# ---------------------------------------------------------------------------- foundation models


def test_foundation_models_carry_lifecycle_and_customizations() -> None:
    bedrock = offline_clients()["bedrock"]
    premier = bedrock.get_foundation_model(modelIdentifier="amazon.nova-premier-v1:0")["modelDetails"]
    assert premier["modelLifecycle"]["status"] == "LEGACY"
    assert premier["modelLifecycle"]["endOfLifeTime"] == datetime(2026, 9, 14, tzinfo=UTC)
    micro = bedrock.get_foundation_model(modelIdentifier=STUDENT)["modelDetails"]
    assert "DISTILLATION" in micro["customizationsSupported"]
    assert micro["modelLifecycle"] == {"status": "ACTIVE"}
    haiku = bedrock.get_foundation_model(
        modelIdentifier="arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"
    )["modelDetails"]
    assert haiku["modelName"] == "Claude Haiku 4.5"
    assert haiku["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]
    profile = bedrock.get_inference_profile(inferenceProfileIdentifier=TEACHER)
    assert profile["models"][0]["modelArn"].endswith("foundation-model/amazon.nova-pro-v1:0")


def test_models_without_on_demand_throughput_need_an_inference_profile() -> None:
    runtime = offline_clients()["bedrock-runtime"]
    with pytest.raises(runtime.exceptions.ValidationException, match="inference profile"):
        converse(runtime, "anthropic.claude-haiku-4-5-20251001-v1:0", "jazz")
    with pytest.raises(runtime.exceptions.ValidationException, match="on-demand"):
        converse(runtime, STUDENT, "jazz")
    assert answer_text(converse(runtime, BASELINE, "jazz"))


# ---------------------------------------------------------------------------- lifecycles


def test_a_distillation_job_runs_then_its_model_deploys_and_answers(s3) -> None:
    clients = offline_clients(s3=s3, job_polls=2, deployment_polls=1)
    bedrock = clients["bedrock"]
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/train.jsonl", Body=training_records(150))
    job_arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    assert job_arn.startswith(
        f"arn:aws:bedrock:us-east-1:{DEFAULT_ACCOUNT}:model-customization-job/{STUDENT}/"
    )
    statuses = [bedrock.get_model_customization_job(jobIdentifier=job_arn)["status"] for _ in range(3)]
    assert statuses == ["InProgress", "InProgress", "Completed"]
    job = bedrock.get_model_customization_job(jobIdentifier="vsr-dev-distil-run-1")  # by name too
    assert job["outputModelArn"].startswith(
        f"arn:aws:bedrock:us-east-1:{DEFAULT_ACCOUNT}:custom-model/{STUDENT}/"
    )
    assert (
        job["customizationConfig"]["distillationConfig"]["teacherModelConfig"]["teacherModelIdentifier"]
        == TEACHER
    )
    models = bedrock.list_custom_models()["modelSummaries"]
    assert [model["modelArn"] for model in models] == [job["outputModelArn"]]

    arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="vsr-dev-run-1", modelArn=job["outputModelArn"], description="run-1"
    )["customModelDeploymentArn"]
    runtime = clients["bedrock-runtime"]
    with pytest.raises(runtime.exceptions.ModelNotReadyException):
        converse(runtime, arn, "jazz")
    statuses = [
        bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"] for _ in range(2)
    ]
    assert statuses == ["Creating", "Active"]
    assert parse_decision(answer_text(converse(runtime, arn, "sunset over mountains"))).ok
    paginator = bedrock.get_paginator("list_custom_model_deployments")
    listed = [
        item
        for page in paginator.paginate(statusEquals="Active")
        for item in page["modelDeploymentSummaries"]
    ]
    assert [item["customModelDeploymentArn"] for item in listed] == [arn]

    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        converse(runtime, arn, "jazz")
    bedrock.delete_custom_model(modelIdentifier=job["outputModelArn"])
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_a_retried_create_is_idempotent_and_a_name_clash_conflicts(s3) -> None:
    bedrock = offline_clients(s3=s3)["bedrock"]
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/train.jsonl", Body=training_records(100))
    first = bedrock.create_model_customization_job(**job_request())["jobArn"]
    assert bedrock.create_model_customization_job(**job_request())["jobArn"] == first
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.create_model_customization_job(**{**job_request(), "clientRequestToken": "another-attempt"})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (training_records(99), "between 100 and 15,000"),
        (
            training_records(120) + b'{"schemaVersion": "bedrock-conversation-2024", "messages": []}\n',
            "line 121",
        ),
        (None, "Unable to read training data"),
    ],
)
def test_a_job_with_unusable_training_data_fails(s3, body: bytes | None, reason: str) -> None:
    bedrock = offline_clients(s3=s3, job_polls=0)["bedrock"]
    if body is not None:
        s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/train.jsonl", Body=body)
    job_arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    job = bedrock.get_model_customization_job(jobIdentifier=job_arn)
    assert job["status"] == "Failed"
    assert job["failureMessage"].startswith(OFFLINE_LABEL)
    assert reason in job["failureMessage"]
    assert "outputModelArn" not in job


def test_distillation_needs_a_distillable_student_and_a_teacher() -> None:
    bedrock = offline_clients()["bedrock"]
    with pytest.raises(bedrock.exceptions.ValidationException, match="does not support DISTILLATION"):
        bedrock.create_model_customization_job(
            **{**job_request(), "baseModelIdentifier": "amazon.nova-micro-v1:0"}
        )
    config = {
        "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": "amazon.nova-micro-v1:0"}}
    }
    with pytest.raises(bedrock.exceptions.ValidationException, match="not a supported teacher"):
        bedrock.create_model_customization_job(**{**job_request(), "customizationConfig": config})


def test_a_stopped_job_goes_through_stopping() -> None:
    bedrock = offline_clients()["bedrock"]
    job_arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    bedrock.stop_model_customization_job(jobIdentifier=job_arn)
    assert (
        bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"][0]["status"] == "Stopping"
    )
    assert bedrock.get_model_customization_job(jobIdentifier=job_arn)["status"] == "Stopped"
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.stop_model_customization_job(jobIdentifier=job_arn)


def judge_input(count: int) -> str:
    lines = []
    for index in range(count):
        query = QUERIES[index % len(QUERIES)]
        reference = {"visual": 0.1, "audio": 0.1, "transcription": 0.7, "metadata": 0.1}
        for candidate, answer in (
            ("distilled", json.dumps({**reference, "reasoning": "close"})),
            ("student", 'Here is a JSON representation ```json{ "video": {"visual": 0.3'),
        ):
            lines.append(
                {
                    "prompt": f"{SEED_SYSTEM_PROMPT}\n\nQuery: {query}",
                    "referenceResponse": json.dumps(reference),
                    "category": candidate,
                    "modelResponses": [{"response": answer, "modelIdentifier": "router-candidates"}],
                }
            )
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_an_evaluation_job_writes_judge_output_the_evaluation_step_reads(s3) -> None:
    bedrock = offline_clients(s3=s3, evaluation_polls=1)["bedrock"]
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/evaluation/input/judge.jsonl", Body=judge_input(10).encode())
    request = create_job_request(
        job_name="vsr-judge-run-1",
        role_arn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/vsr-evaluation",
        judge_model_id=TEACHER,
        input_uri=f"s3://{BUCKET}/runs/run-1/evaluation/input/judge.jsonl",
        output_uri=f"s3://{BUCKET}/runs/run-1/evaluation/output/",
        run_id="run-1",
    )
    job_arn = bedrock.create_evaluation_job(**request)["jobArn"]
    assert bedrock.create_evaluation_job(**request)["jobArn"] == job_arn
    assert bedrock.get_evaluation_job(jobIdentifier=job_arn)["status"] == "InProgress"
    assert bedrock.get_evaluation_job(jobIdentifier=job_arn)["status"] == "Completed"

    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/run-1/evaluation/output/")["Contents"]
    ]
    outputs = [key for key in keys if key.endswith("_output.jsonl")]
    assert len(outputs) == 1
    assert "/vsr-judge-run-1/" in outputs[0]
    assert "/models/router-candidates/taskTypes/" in outputs[0]
    records = [
        json.loads(line)
        for line in s3.get_object(Bucket=BUCKET, Key=outputs[0])["Body"].read().decode().splitlines()
    ]
    assert len(records) == 20
    for record in records:
        for score in record["automatedEvaluationResult"]["scores"]:
            assert score["evaluatorDetails"][0]["explanation"].startswith(OFFLINE_LABEL)
    scores = judge_scores(records)
    assert set(scores) == {"distilled", "student"}
    assert sum(scores["distilled"]) / 10 > sum(scores["student"]) / 10
    assert all(1.0 <= value <= 5.0 for values in scores.values() for value in values)


def test_a_stopped_evaluation_job_goes_through_stopping(s3) -> None:
    bedrock = offline_clients(s3=s3, evaluation_polls=5)["bedrock"]
    request = create_job_request(
        job_name="vsr-judge-run-3",
        role_arn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/vsr-evaluation",
        judge_model_id=TEACHER,
        input_uri=f"s3://{BUCKET}/runs/run-3/evaluation/input/judge.jsonl",
        output_uri=f"s3://{BUCKET}/runs/run-3/evaluation/output/",
        run_id="run-3",
    )
    job_arn = bedrock.create_evaluation_job(**request)["jobArn"]
    pages = bedrock.get_paginator("list_evaluation_jobs").paginate(nameContains="vsr-judge-run-3")
    assert [job["jobArn"] for page in pages for job in page["jobSummaries"]] == [job_arn]
    bedrock.stop_evaluation_job(jobIdentifier=job_arn)
    assert bedrock.get_evaluation_job(jobIdentifier=job_arn)["status"] == "Stopped"
    with pytest.raises(bedrock.exceptions.ConflictException):
        bedrock.stop_evaluation_job(jobIdentifier=job_arn)


def test_an_evaluation_job_without_s3_fails_with_the_reason() -> None:
    bedrock = offline_clients(evaluation_polls=0)["bedrock"]
    request = create_job_request(
        job_name="vsr-judge-run-2",
        role_arn=f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/vsr-evaluation",
        judge_model_id=TEACHER,
        input_uri=f"s3://{BUCKET}/runs/run-2/evaluation/input/judge.jsonl",
        output_uri=f"s3://{BUCKET}/runs/run-2/evaluation/output/",
        run_id="run-2",
    )
    job = bedrock.get_evaluation_job(jobIdentifier=bedrock.create_evaluation_job(**request)["jobArn"])
    assert job["status"] == "Failed"
    assert job["failureMessages"][0].startswith(OFFLINE_LABEL)
    assert "no S3 client" in job["failureMessages"][0]


# ---------------------------------------------------------------------------- Converse answers


def teacher_request(batch: Batch, modalities: list[str] = MODALITIES, max_tokens: int | None = None) -> dict:
    return {
        "modelId": TEACHER,
        "system": [{"text": teacher_system_prompt(modalities)}],
        "messages": [
            {
                "role": "user",
                "content": [{"text": teacher_prompt(batch, modalities, batch_themes("run-1", batch.batch))}],
            }
        ],
        "inferenceConfig": {"maxTokens": max_tokens or max_tokens_for(batch.count), "temperature": 0.9},
        "requestMetadata": {"run_id": "run-1", "purpose": "teacher-generation"},
    }


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_teacher_answers_to_the_pipelines_prompt_parse_into_the_count_asked(difficulty: str) -> None:
    runtime = offline_clients(seed=7)["bedrock-runtime"]
    batch = Batch(batch=3, focus="audio", difficulty=difficulty, count=25)
    response = runtime.converse(**teacher_request(batch))
    assert response["stopReason"] == "end_turn"
    parsed = parse_labelled_examples(answer_text(response), MODALITIES)
    assert (len(parsed.examples), parsed.dropped) == (25, 0)
    assert len({example.query.lower() for example in parsed.examples}) == 25
    assert all(example.decision.reasoning.startswith(OFFLINE_LABEL) for example in parsed.examples)
    dominant = Counter(example.decision.dominant for example in parsed.examples)
    if difficulty == "hard":
        # Hard items pair the focus with another modality's full query (or are a bare short query):
        # by design about 28 % stay audio-dominant, and the batch is mixed.
        assert dominant["audio"] >= 5 and len(dominant) >= 3
    else:
        assert dominant["audio"] >= (15 if difficulty == "easy" else 8)
    assert response["usage"]["outputTokens"] < max_tokens_for(25)


def test_teacher_answers_follow_custom_modalities() -> None:
    modalities = ["visual", "audio", "transcription", "metadata", "mood", "camera_angle"]
    runtime = offline_clients(seed=1)["bedrock-runtime"]
    response = runtime.converse(
        **teacher_request(Batch(batch=0, focus="mood", difficulty="easy", count=20), modalities)
    )
    parsed = parse_labelled_examples(answer_text(response), modalities)
    assert len(parsed.examples) == 20
    assert Counter(example.decision.dominant for example in parsed.examples)["mood"] >= 12


def test_a_teacher_answer_over_max_tokens_is_cut_and_keeps_its_complete_items() -> None:
    runtime = offline_clients(seed=2)["bedrock-runtime"]
    response = runtime.converse(
        **teacher_request(Batch(batch=0, focus="mixed", difficulty="medium", count=40), max_tokens=600)
    )
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] <= 600
    parsed = parse_labelled_examples(answer_text(response), MODALITIES)
    assert 0 < len(parsed.examples) < 40


def test_teacher_defects_are_dropped_by_the_parser() -> None:
    runtime = offline_clients(seed=4, teacher_defect_rate=0.3)["bedrock-runtime"]
    response = runtime.converse(
        **teacher_request(Batch(batch=0, focus="visual", difficulty="easy", count=50))
    )
    parsed = parse_labelled_examples(answer_text(response), MODALITIES)
    assert parsed.dropped > 0
    assert len(parsed.examples) + parsed.dropped == 50


def routing_answers(model_id: str, runtime: Any) -> list[dict]:
    return [converse(runtime, model_id, f"{query} #{index}") for index in range(10) for query in QUERIES]


def test_routing_answer_quality_depends_on_the_model(s3) -> None:
    clients = offline_clients(s3=s3, seed=11)
    runtime = clients["bedrock-runtime"]
    distilled = [answer_text(item) for item in routing_answers(deployed(clients, s3), runtime)]
    student = routing_answers("amazon.nova-micro-v1:0", runtime)
    baseline = [answer_text(item) for item in routing_answers(BASELINE, runtime)]

    assert sum(parse_decision(text).ok for text in distilled) >= 0.97 * len(distilled)
    assert all(json.loads(text) for text in baseline if not text.startswith("```"))
    assert all(parse_decision(text).ok for text in baseline)
    student_texts = [answer_text(item) for item in student]
    unparseable = [text for text in student_texts if not parse_decision(text).ok]
    wrapped = [text for text in student_texts if parse_decision(text).repairs]
    assert len(unparseable) >= 5  # cut off like the seed's base Nova Micro answers
    assert len(wrapped) >= 10  # prose, fences, nesting
    assert any(item["stopReason"] == "max_tokens" for item in student)
    for text in distilled + student_texts + baseline:
        assert OFFLINE_LABEL in text


def test_routing_answers_follow_the_system_prompts_modalities() -> None:
    modalities = ("visual", "audio", "mood")
    runtime = offline_clients()["bedrock-runtime"]
    text = answer_text(
        converse(runtime, BASELINE, "calm sunset over the sea", system=system_prompt(modalities))
    )
    parsed = parse_decision(text, modalities)
    assert parsed.ok
    assert set(parsed.decision.weights) == set(modalities)


def test_latency_and_tokens_are_simulated_per_model() -> None:
    runtime = offline_clients(seed=5)["bedrock-runtime"]
    micro = [converse(runtime, "amazon.nova-micro-v1:0", query) for query in QUERIES * 3]
    haiku = [converse(runtime, BASELINE, query) for query in QUERIES * 3]
    mean = lambda items: sum(item["metrics"]["latencyMs"] for item in items) / len(items)  # noqa: E731
    assert mean(micro) < mean(haiku)
    for item in micro + haiku:
        usage = item["usage"]
        assert usage["inputTokens"] > len(SEED_SYSTEM_PROMPT) // 5
        assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


def test_the_timer_advances_by_each_calls_simulated_latency_in_its_own_thread() -> None:
    runtime = offline_clients(seed=5)["bedrock-runtime"]
    before = runtime.timer()
    response = converse(runtime, BASELINE, QUERIES[0])
    assert runtime.timer() - before == pytest.approx(response["metrics"]["latencyMs"] / 1000.0)
    elsewhere: list[float] = []
    thread = threading.Thread(target=lambda: elsewhere.append(runtime.timer()))
    thread.start()
    thread.join()
    assert elsewhere == [0.0]  # another thread's calls are not this thread's time


def test_generated_queries_look_like_typed_search_queries() -> None:
    # The stand-in's word lists wrap over lines: no newline or indentation may leak into a query.
    runtime = offline_clients(seed=3)["bedrock-runtime"]
    queries = []
    for batch in plan_batches(1_000, 25, MODALITIES):
        response = runtime.converse(**teacher_request(batch))
        queries += [
            example.query for example in parse_labelled_examples(answer_text(response), MODALITIES).examples
        ]
    assert len(queries) == 1_000
    odd = [query for query in queries if query != " ".join(query.split())]
    assert odd == []


def test_independent_batches_rarely_repeat_each_other() -> None:
    # The pipeline asks the teacher batch by batch and over-generates by GENERATION_OVERSHOOT to make up
    # for duplicates: across a 2,000-example run the stand-in's repeats must stay well within it.
    runtime = offline_clients(seed=0)["bedrock-runtime"]
    asked = math.ceil(2_000 * (1 + GENERATION_OVERSHOOT))
    keys: list[str] = []
    for batch in plan_batches(asked, 25, MODALITIES):
        response = runtime.converse(**teacher_request(batch))
        parsed = parse_labelled_examples(answer_text(response), MODALITIES)
        keys += [normalise_query(example.query) for example in parsed.examples]
    assert len(keys) == asked
    duplicates = len(keys) - len(set(keys))
    assert duplicates / asked < GENERATION_OVERSHOOT * 0.7, duplicates


def test_an_unrecognised_prompt_gets_a_labelled_answer() -> None:
    runtime = offline_clients()["bedrock-runtime"]
    text = answer_text(
        converse(runtime, BASELINE, "What is the capital of France?", system="You are helpful.")
    )
    assert text.startswith(OFFLINE_LABEL)


# ---------------------------------------------------------------------------- determinism


def test_answers_are_deterministic_for_a_seed_and_independent_of_call_order() -> None:
    batch = Batch(batch=1, focus="mixed", difficulty="hard", count=20)

    def run(seed: int, order: list[str]) -> dict[str, Any]:
        runtime = offline_clients(seed=seed)["bedrock-runtime"]
        answers = {}
        for item in order:
            request = teacher_request(batch) if item == "teacher" else None
            response = (
                runtime.converse(**request) if request else converse(runtime, "amazon.nova-micro-v1:0", item)
            )
            answers[item] = (
                answer_text(response),
                response["usage"],
                response["metrics"],
                response["stopReason"],
            )
        return answers

    order = ["teacher", *QUERIES]
    first = run(3, order)
    assert run(3, list(reversed(order))) == first
    assert run(4, order)["teacher"] != first["teacher"]


def test_resource_ids_are_deterministic_for_a_seed() -> None:
    def job_arn(seed: int) -> str:
        return offline_clients(seed=seed)["bedrock"].create_model_customization_job(**job_request())["jobArn"]

    assert job_arn(1) == job_arn(1)
    assert job_arn(1) != job_arn(2)


# ---------------------------------------------------------------------------- the test script and call log


def test_a_script_sets_the_statuses_a_job_and_a_deployment_report_over_polls(s3) -> None:
    clients = offline_clients(s3=s3, job_polls=0)
    bedrock, script = clients["bedrock"], clients["bedrock"].account.script
    s3.put_object(Bucket=BUCKET, Key="runs/run-1/dataset/train.jsonl", Body=training_records(150))
    script.job_statuses = ["InProgress", "Failed"]
    failing = bedrock.create_model_customization_job(**job_request("vsr-dev-failing"))["jobArn"]
    jobs = [bedrock.get_model_customization_job(jobIdentifier=failing) for _ in range(3)]
    assert [job["status"] for job in jobs] == ["InProgress", "Failed", "Failed"]  # the last one repeats
    assert jobs[1]["failureMessage"] == f"{OFFLINE_LABEL} {script.job_failure_message}"
    assert "endTime" in jobs[1] and "outputModelArn" not in jobs[1]

    script.job_statuses = None  # back to the simulation: job_polls=0, done on the first read
    job = bedrock.get_model_customization_job(
        jobIdentifier=bedrock.create_model_customization_job(**job_request())["jobArn"]
    )
    assert job["status"] == "Completed"
    script.deployment_statuses = ["Creating", "Failed"]
    arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="vsr-dev-run-1", modelArn=job["outputModelArn"]
    )["customModelDeploymentArn"]
    deployments = [bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn) for _ in range(2)]
    assert [item["status"] for item in deployments] == ["Creating", "Failed"]
    assert "Insufficient capacity" in deployments[1]["failureMessage"]
    with pytest.raises(clients["bedrock-runtime"].exceptions.ModelNotReadyException):
        converse(clients["bedrock-runtime"], arn, "jazz")


def test_scripted_throttling_faults_and_failures_are_the_real_clients_errors_and_logged() -> None:
    clients = offline_clients(seed=1)
    runtime, account = clients["bedrock-runtime"], clients["bedrock"].account
    account.script.throttle_converse = 2
    for _ in range(2):
        with pytest.raises(runtime.exceptions.ThrottlingException):
            converse(runtime, BASELINE, "jazz", system=system_prompt(MODALITIES))
    assert parse_decision(
        answer_text(converse(runtime, BASELINE, "jazz", system=system_prompt(MODALITIES)))
    ).ok

    timeout = ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")
    account.script.teacher_fault = lambda prompt: timeout if "Difficulty: easy" in prompt else None
    easy, hard = (Batch(batch=0, count=5, focus="visual", difficulty=level) for level in ("easy", "hard"))
    with pytest.raises(ReadTimeoutError):
        runtime.converse(**teacher_request(easy))
    assert answer_text(runtime.converse(**teacher_request(hard)))

    account.script.failures = {"GetFoundationModel": ("AccessDeniedException", "no model access")}
    with pytest.raises(clients["bedrock"].exceptions.AccessDeniedException, match="no model access"):
        clients["bedrock"].get_foundation_model(modelIdentifier="amazon.nova-micro-v1:0")

    assert account.count("Converse") == 5 and account.routing_answers == 3  # throttled calls included
    assert account.count("Converse", "teacher") == 2 and account.count("GetFoundationModel") == 1
    assert account.calls[-1].request == {"modelIdentifier": "amazon.nova-micro-v1:0"}


def test_a_script_answers_routing_prompts_per_model_with_its_delay_and_first_errors() -> None:
    runtime = offline_clients()["bedrock-runtime"]
    account, routing = runtime.account, system_prompt(MODALITIES)
    canned = {
        "output": {"message": {"role": "assistant", "content": [{"text": '{"visual": 1}'}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 60, "outputTokens": 40, "totalTokens": 100},
        "metrics": {"latencyMs": 100},
    }
    asked: list[str] = []
    account.script.routing_answers = {"model-a.v1": lambda query: asked.append(query) or canned}
    account.script.converse_delays = {"model-a.v1": 0.25}
    account.script.converse_errors = {"model-a.v1": ["ServiceUnavailableException", "ThrottlingException"]}
    with pytest.raises(runtime.exceptions.ServiceUnavailableException) as unavailable:
        converse(runtime, "model-a.v1", "jazz", system=routing)
    assert (
        unavailable.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    )  # the service model's status
    with pytest.raises(runtime.exceptions.ThrottlingException):
        converse(runtime, "model-a.v1", "jazz", system=routing)
    assert runtime.timer() == 0.0  # a refused call takes no model time

    response = converse(runtime, "model-a.v1", "jazz", system=routing)  # not in the catalogue: not looked up
    assert answer_text(response) == '{"visual": 1}' and response["usage"]["outputTokens"] == 40
    assert asked == ["jazz"] and runtime.timer() == pytest.approx(0.25)  # the script's delay, not latencyMs
    simulated = converse(runtime, BASELINE, "jazz", system=routing)  # other models: the simulation
    assert OFFLINE_LABEL in answer_text(simulated)
    assert runtime.timer() == pytest.approx(0.25 + simulated["metrics"]["latencyMs"] / 1000.0)
    with pytest.raises(runtime.exceptions.ValidationException, match="model identifier is invalid"):
        converse(
            runtime, "model-a.v1", "jazz", system="Say hello."
        )  # a scripted model's other prompts: simulated
    assert account.count("Converse", "routing") == 4 and account.script.converse_errors == {"model-a.v1": []}


def test_the_account_counts_converse_calls_in_flight_per_model() -> None:
    runtime = offline_clients()["bedrock-runtime"]
    routing, inside = system_prompt(MODALITIES), threading.Barrier(3)

    def answer(query: str) -> dict:
        inside.wait(timeout=10)  # the three calls are in flight at once
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "{}"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        }

    runtime.account.script.routing_answers = {"model-a.v1": answer}
    threads = [
        threading.Thread(
            target=converse, args=(runtime, "model-a.v1", f"q{index}"), kwargs={"system": routing}
        )
        for index in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    converse(runtime, BASELINE, "jazz", system=routing)
    assert runtime.account.max_in_flight == {"model-a.v1": 3, BASELINE: 1}
    assert runtime.account.in_flight == {"model-a.v1": 0, BASELINE: 0}


def test_each_account_has_its_own_catalogue_a_test_may_retire_a_model_in() -> None:
    retired, untouched = offline_clients(), offline_clients()
    model = retired["bedrock"].account.foundation_models["amazon.nova-pro-v1:0"]
    retired["bedrock"].account.foundation_models[model.model_id] = replace(
        model, lifecycle="LEGACY", end_of_life=datetime(2020, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(retired["bedrock-runtime"].exceptions.ResourceNotFoundException, match="end of life"):
        converse(retired["bedrock-runtime"], TEACHER, "jazz")
    details = untouched["bedrock"].get_foundation_model(modelIdentifier=model.model_id)["modelDetails"]
    assert details["modelLifecycle"]["status"] == "ACTIVE"
