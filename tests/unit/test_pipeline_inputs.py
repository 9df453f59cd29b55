"""The execution input contract, the Lambdas' settings, and the names derived from a run id."""

from __future__ import annotations

import re

import boto3
import pytest
from routing.errors import InvalidInput, InvalidSettings
from routing.pipeline.inputs import INPUT_KEYS, parse_execution_input
from routing.pipeline.names import MAX_NAME_LENGTH, run_names
from routing.pipeline.planning import max_tokens_for
from routing.settings import (
    MAX_EXAMPLES_PER_CALL,
    TEACHER_MAX_OUTPUT_TOKENS,
    CheckJudgeEnv,
    EvaluateEnv,
    PipelineSettings,
    PromoteEnv,
    ReportEnv,
    StartJudgeEnv,
)

from cdk_app.config import AppConfig
from stacks.constructs.function_environment import evaluation_environments, pipeline_environment
from tests.pipeline_support import ENVIRONMENT

BEDROCK = boto3.client("bedrock", region_name="us-east-1").meta.service_model


def test_every_key_is_optional() -> None:
    assert parse_execution_input({}).overrides() == {}
    assert parse_execution_input(None).overrides() == {}


def test_the_public_keys() -> None:
    assert set(INPUT_KEYS) == {
        "run_id", "examples", "holdout", "teacher_model_id", "student_model_id", "baseline_model_id", "judge",
        "dataset_s3_uri", "invocation_logs_s3_uri", "gold_s3_uri", "wait_seconds", "gate",
    }  # fmt: skip
    request = parse_execution_input(
        {
            "examples": 500,
            "holdout": 50,
            "judge": False,
            "dataset_s3_uri": "s3://vsr-test-data/imports/mine.jsonl",
            "wait_seconds": {"job": 0},
            "gate": {"min_mean_score": 4.0},
        }
    )
    assert request.overrides() == {
        "examples": 500,
        "holdout": 50,
        "judge": False,
        "dataset_s3_uri": "s3://vsr-test-data/imports/mine.jsonl",
        "wait_seconds": {"job": 0},
        "gate": {"min_mean_score": 4.0},
    }


def test_unknown_keys_are_listed_at_once_with_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_execution_input({"exampels": 10, "wait_seconds": {"jobs": 0}, "examples": 500})
    message = str(caught.value)
    assert "'exampels'" in message and "'wait_seconds.jobs'" in message
    assert "allowed: run_id, examples" in message


@pytest.mark.parametrize(
    ("payload", "key"),
    [
        ({"examples": "500"}, "'examples'"),  # strict: a string is not a number
        ({"judge": "yes"}, "'judge'"),
        ({"holdout": 0}, "'holdout'"),
        ({"wait_seconds": {"job": -1}}, "'wait_seconds.job'"),
        ({"gate": {"min_json_validity": 2}}, "'gate.min_json_validity'"),
        ({"teacher_model_id": "Nova Pro"}, "'teacher_model_id' should be a Bedrock model id"),
        ({"dataset_s3_uri": "https://example.com/x"}, "'dataset_s3_uri' should be an s3://bucket/key URI"),
        ({"run_id": "has spaces"}, "'run_id'"),
    ],
)
def test_bad_values_name_their_key(payload: dict, key: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(key)):
        parse_execution_input(payload)


def test_input_must_be_an_object() -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_execution_input([1, 2])


# ---------------------------------------------------------------------------------- settings


def test_settings_from_the_environment() -> None:
    parsed = PipelineSettings.from_environ(ENVIRONMENT)
    assert parsed.prefix == "vsr-test"
    assert parsed.modalities == ("visual", "audio", "transcription", "metadata")
    assert parsed.wait_seconds.job == 600 and parsed.deadlines.job_hours == 48
    assert parsed.router_app_tag == "vsr-test-router"


def test_settings_name_every_missing_or_bad_variable() -> None:
    environment = {**ENVIRONMENT, "GATE": "{not json", "EXAMPLES": "many"}
    del environment["DATA_BUCKET"]
    with pytest.raises(InvalidSettings) as caught:
        PipelineSettings.from_environ(environment)
    assert "DATA_BUCKET is not set" in str(caught.value) and "GATE is not JSON" in str(caught.value)
    with pytest.raises(InvalidSettings, match="examples"):
        PipelineSettings.from_environ({**ENVIRONMENT, "EXAMPLES": "many"})


def test_examples_per_call_is_bounded_by_the_teachers_answer() -> None:
    """The bound is what one teacher answer holds: 79 examples fit its 10,000 output tokens, 80 do not."""
    assert MAX_EXAMPLES_PER_CALL == 79
    assert max_tokens_for(MAX_EXAMPLES_PER_CALL) <= TEACHER_MAX_OUTPUT_TOKENS < max_tokens_for(80)
    assert PipelineSettings.from_environ({**ENVIRONMENT, "EXAMPLES_PER_CALL": "79"}).examples_per_call == 79
    with pytest.raises(InvalidSettings, match="EXAMPLES_PER_CALL"):
        PipelineSettings.from_environ({**ENVIRONMENT, "EXAMPLES_PER_CALL": "80"})


def test_every_settings_model_reads_back_what_it_writes() -> None:
    config = AppConfig(stage="test", examples=500, gate={"min_mean_score": 4}, judge=False)
    written = pipeline_environment(
        config, bucket_name="vsr-test-data", distillation_role_arn="arn:aws:iam::123456789012:role/d"
    )
    assert "AWS_REGION" not in written  # Lambda sets it
    parsed = PipelineSettings.from_environ({**written, "AWS_REGION": "us-east-1"})
    assert parsed.to_environ() == written
    assert (parsed.examples, parsed.judge, parsed.gate.min_mean_score) == (500, False, 4)
    assert parsed.deadlines.evaluation_hours == config.evaluation_deadline_hours
    environments = evaluation_environments(config, evaluation_role_arn="arn:aws:iam::123456789012:role/e")
    models = {"Evaluate": EvaluateEnv, "StartJudge": StartJudgeEnv, "CheckJudge": CheckJudgeEnv,
              "Report": ReportEnv, "Promote": PromoteEnv}  # fmt: skip
    for step, variables in environments.items():
        assert models[step].from_environ(variables).to_environ() == variables, step


def test_one_gate_variable_for_plan_and_report() -> None:
    (report,) = [env for step, env in evaluation_environments(AppConfig(), evaluation_role_arn="r").items()
                 if step == "Report"]  # fmt: skip
    # PROMOTION: the run notification says what a passing gate does (promote, or start a rollout).
    assert set(report) == {"MODEL_PRICES", "GATE", "PROMOTION"}
    assert (
        ReportEnv.from_environ({"GATE": ENVIRONMENT["GATE"]}).gate
        == PipelineSettings.from_environ(ENVIRONMENT).gate
    )


# ---------------------------------------------------------------------------------- names

_JOB_NAME = BEDROCK.shape_for("JobName").metadata["pattern"]
_MODEL_NAME = BEDROCK.shape_for("CustomModelName").metadata["pattern"]
_DEPLOYMENT_NAME = BEDROCK.shape_for("ModelDeploymentName").metadata["pattern"]
_TOKEN = BEDROCK.shape_for("IdempotencyToken").metadata["pattern"]
_TAG_VALUE = BEDROCK.shape_for("TagValue").metadata["pattern"]


@pytest.mark.parametrize(
    "run_id",
    ["run-1", "2025_06_01_nightly", "a", "X" * 80, "3f2b8c1e-6a4d-4f7e-9b1a-0c2d3e4f5a6b", "a_-_b--c__d"],
)
def test_names_fit_bedrock_patterns(run_id: str) -> None:
    names = run_names("vsr-dev", run_id)
    assert re.fullmatch(_JOB_NAME, names.job_name) and len(names.job_name) <= MAX_NAME_LENGTH
    assert (
        re.fullmatch(_MODEL_NAME, names.custom_model_name) and len(names.custom_model_name) <= MAX_NAME_LENGTH
    )
    assert (
        re.fullmatch(_DEPLOYMENT_NAME, names.deployment_name)
        and len(names.deployment_name) <= MAX_NAME_LENGTH
    )
    assert re.fullmatch(_TOKEN, names.job_token) and re.fullmatch(_TOKEN, names.deployment_token)
    assert re.fullmatch(_TAG_VALUE, run_id)  # run ids are used as tag values as is
    assert run_names("vsr-dev", run_id) == names  # derived, not random


def test_names_are_readable_and_distinct() -> None:
    assert run_names("vsr-dev", "run-1").job_name == "vsr-dev-run-1-distillation"
    assert run_names("vsr-dev", "run-1").deployment_name == "vsr-dev-run-1"
    # Runs whose ids differ only where a name cannot follow keep distinct names.
    assert run_names("vsr-dev", "run_1").deployment_name != run_names("vsr-dev", "run-1").deployment_name
    long_a, long_b = run_names("vsr-dev", "a" * 79 + "b"), run_names("vsr-dev", "a" * 79 + "c")
    assert long_a.job_name != long_b.job_name and long_a.deployment_name != long_b.deployment_name
    assert run_names("vsr-dev", "run-1").job_token != run_names("vsr-prod", "run-1").job_token


@pytest.mark.parametrize("run_id", ["", "-starts-with-dash", "has space", "a/b", "x" * 81])
def test_unusable_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(InvalidInput, match="run id"):
        run_names("vsr-dev", run_id)
