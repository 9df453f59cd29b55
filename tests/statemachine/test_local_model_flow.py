"""A whole run with tier-0: TrainLocalModel runs while the distillation job runs, the artifact is in S3,
the report has the fourth candidate and its threshold, and Promote writes it into the active-model value.

The distilled model is scripted to answer every query with uniform weights (the offline stand-in's own
distilled answers are nearly the teacher's labels, which the tier-0 model cannot match on 200 training
examples), and the gate is opened for this module's runs, so that calibration finds a threshold and the
run is promoted: the test is about the plumbing, not the figures (docs/evaluation.md gives those).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import boto3
import pytest
from routing import DEFAULT_MODALITIES
from routing.active_model import parse_active_model
from routing.local_model import load_local_model
from routing.pipeline.names import run_names

from tests.evaluation_support import converse_response

from .pipeline_support import HANDLERS, Environment, Sandbox, environment, sandbox

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

OPEN_GATE = {"min_mean_score": 1, "max_score_drop": 4, "min_json_validity": 0, "max_p95_latency_ratio": 100}
PARAMETER = "/vsr/test/router/active-model"


@pytest.fixture(scope="module")
def env() -> Iterator[Environment]:
    with environment({"GATE": json.dumps(OPEN_GATE), "ACTIVE_MODEL_PARAMETER": PARAMETER}) as shared:
        yield shared


@pytest.fixture
def box(env: Environment) -> Iterator[Sandbox]:
    with sandbox(env) as one:
        yield one


def uniform(query: str) -> dict:
    weights = {name: 0.25 for name in DEFAULT_MODALITIES}
    return converse_response(json.dumps({**weights, "reasoning": "no idea"}), latency_ms=50)


def test_tier0_trains_while_the_job_runs_is_evaluated_calibrated_and_promoted(box: Sandbox) -> None:
    run = box.run_id
    deployment = box.bedrock.arn(
        f"custom-model-deployment/{box.bedrock.resource_id('deployment', run_names('vsr-test', run).deployment_name)}"
    )
    box.bedrock.script.routing_answers[deployment] = uniform
    result = box.run({"examples": 300, "judge": False})
    assert result.status == "SUCCEEDED", result.cause
    states = result.states_entered()
    # Right after the job was created, before its first poll: the job was still training.
    assert (
        states.index("StartDistillation") + 1
        == states.index("TrainLocalModel")
        < states.index("CheckDistillation")
    )
    (training,) = result.invocations_of("train_local_model")
    assert training.payload["distillation"]["status"] == "InProgress" and training.error is None

    output = result.output
    local = output["local_model"]
    assert local["trained"] and local["examples"] == output["dataset"]["train_count"] == 200
    body = box.object(f"runs/{run}/local-model/model.json")
    assert hashlib.sha256(body).hexdigest() == local["sha256"]
    assert load_local_model(body).trained["run_id"] == run

    report = json.loads(box.object(f"runs/{run}/report/report.json"))
    assert [model["candidate"] for model in report["models"]] == ["distilled", "student", "baseline", "local"]
    section = report["local_model"]
    assert section["evaluated"] and section["threshold"] is not None, section["error"]
    assert section["confident_mean_score"] >= section["distilled_mean_score"]

    assert "Promote" in states and output["report"]["gate"]["passed"]
    value = parse_active_model(
        boto3.client("ssm", region_name="us-east-1").get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    )
    assert value.model_id == deployment and value.run_id == run
    assert value.local_model is not None
    assert (value.local_model.s3_uri, value.local_model.sha256) == (local["s3_uri"], local["sha256"])
    assert value.local_model.threshold == section["threshold"]


def test_a_failed_training_does_not_fail_the_run_and_the_report_says_tier0_is_missing(box: Sandbox) -> None:
    box.local.handlers["train_local_model"] = failing_training
    try:
        result = box.run({"examples": 300, "judge": False})
    finally:
        box.local.handlers["train_local_model"] = HANDLERS["train_local_model"]
    assert result.status == "SUCCEEDED", result.cause
    assert "LocalModelNotTrained" in result.states_entered()
    output = result.output
    assert output["local_model"]["trained"] is False and "out of memory" in output["local_model"]["cause"]
    report = json.loads(box.object(f"runs/{box.run_id}/report/report.json"))
    assert [model["candidate"] for model in report["models"]] == ["distilled", "student", "baseline"]
    assert "out of memory" in report["local_model"]["error"]
    assert output["report"]["local_model"] is None


def failing_training(event: dict, context: object) -> dict:
    raise MemoryError("out of memory")
