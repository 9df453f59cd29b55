"""Shared fixtures of the pipeline and evaluation tests: the Lambdas' environment, settings and the
execution state (`$.run`, `$.dataset`, `$.deployment`) built once, the way the steps write it."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.stub import Stubber
from routing.layout import RunLayout
from routing.pipeline.settings import PipelineSettings
from routing.state import DatasetState, DeploymentState, RunState

from cdk_app.config import AppConfig
from stacks.constructs.function_environment import evaluation_environments

BUCKET = "vsr-test-data"
ROLE_ARN = "arn:aws:iam::123456789012:role/vsr-test-distillation"
ENVIRONMENT: dict[str, str] = {
    "PROJECT_NAME": "vsr",
    "STAGE": "test",
    "AWS_REGION": "us-east-1",
    "DATA_BUCKET": BUCKET,
    "DISTILLATION_ROLE_ARN": ROLE_ARN,
    "TEACHER_MODEL_ID": "us.amazon.nova-pro-v1:0",
    "STUDENT_MODEL_ID": "amazon.nova-micro-v1:0:128k",
    "BASELINE_MODEL_ID": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    "JUDGE_MODEL_ID": "us.amazon.nova-pro-v1:0",
    "MODALITIES": "visual,audio,transcription,metadata",
    "EXAMPLES": "10000",
    "HOLDOUT": "100",
    "EXAMPLES_PER_CALL": "25",
    "GENERATION_CONCURRENCY": "4",
    "MAX_RESPONSE_LENGTH": "1000",
    "JUDGE": "true",
    "GATE": json.dumps(
        {
            "min_mean_score": 3.5,
            "max_score_drop": 0.25,
            "min_json_validity": 0.95,
            "max_p95_latency_ratio": 1.0,
        }
    ),
    "WAIT_SECONDS": json.dumps({"job": 600, "deployment": 30, "evaluation": 300}),
    "JOB_DEADLINE_HOURS": "48",
    "DEPLOYMENT_DEADLINE_MINUTES": "120",
    "EVALUATION_DEADLINE_HOURS": "24",
    "ROUTER_APP_TAG": "vsr-test-router",
    # The evaluation steps' own variables, as the stack sets them.
    **{
        name: value
        for variables in evaluation_environments(
            AppConfig(stage="test"), evaluation_role_arn="arn:aws:iam::123456789012:role/vsr-test-evaluation"
        ).values()
        for name, value in variables.items()
    },
}


def settings(**overrides: str) -> PipelineSettings:
    return PipelineSettings.from_environ({**ENVIRONMENT, **overrides})


def run_state(run_id: str = "run-1", *, bucket: str = BUCKET, **settings_overrides: Any) -> RunState:
    """A `$.run` as Plan writes it, from the default settings with `settings_overrides`."""
    base = settings()
    run_settings = {
        "examples": 300,
        "holdout": 100,
        "teacher_model_id": base.teacher_model_id,
        "student_model_id": base.student_model_id,
        "baseline_model_id": base.baseline_model_id,
        "judge": True,
        "judge_model_id": base.judge_model_id,
        "modalities": list(base.modalities),
        "gate": base.gate.model_dump(),
        "wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0},
        "evaluation_candidates": ["distilled", "student", "baseline"],
        "dataset_s3_uri": None,
        "invocation_logs_s3_uri": None,
        "examples_per_call": 25,
        "generation_concurrency": 4,
        "max_response_length": 1000,
        "deadlines": base.deadlines.model_dump(),
        **settings_overrides,
    }
    return RunState.model_validate(
        {
            "run_id": run_id,
            "bucket": bucket,
            "prefix": RunLayout(run_id).prefix,
            "manifest_key": RunLayout(run_id).manifest_key,
            "settings": run_settings,
            "warnings": [],
        }
    )


def dataset_state(run_id: str = "run-1", **overrides: Any) -> DatasetState:
    """A `$.dataset` as Prepare dataset writes it."""
    layout = RunLayout(run_id)
    return DatasetState.model_validate(
        {
            "train_key": layout.train_key,
            "holdout_key": layout.holdout_key,
            "stats_key": layout.stats_key,
            "train_count": 200,
            "holdout_count": 100,
            **overrides,
        }
    )


def deployment_state(deployment_arn: str, run_id: str = "run-1", **overrides: Any) -> DeploymentState:
    """A `$.deployment` as Check deployment leaves it once the deployment is Active."""
    return DeploymentState.model_validate(
        {
            "deployment_arn": deployment_arn,
            "deployment_name": f"vsr-test-{run_id}",
            "status": "Active",
            "deadline": "2026-12-01T14:00:00+00:00",
            **overrides,
        }
    )


def stubbed(service: str) -> tuple[Any, Stubber]:
    """A real botocore client with a Stubber: every stubbed call is checked against the service model."""
    client = boto3.client(service, region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber
