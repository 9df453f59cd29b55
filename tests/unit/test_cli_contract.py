"""The CLI discovers everything from stack outputs: its output names must be the stacks' own."""

from __future__ import annotations

from routing.evaluation.judge import judge_job_name
from routing.layout import RunLayout
from routing.pipeline.names import run_names

from cdk_app import operator_api
from cdk_app.config import AppConfig
from stacks import router_api_stack, storage_stack


def test_storage_output_names() -> None:
    assert operator_api.OUTPUT_BUCKET == storage_stack.OUTPUT_BUCKET
    assert operator_api.OUTPUT_DISTILLATION_ROLE == storage_stack.OUTPUT_DISTILLATION_ROLE
    assert operator_api.OUTPUT_EVALUATION_ROLE == storage_stack.OUTPUT_EVALUATION_ROLE
    assert operator_api.OUTPUT_ACTIVE_MODEL_PARAMETER == storage_stack.OUTPUT_ACTIVE_MODEL_PARAMETER


def test_router_api_output_names() -> None:
    assert operator_api.OUTPUT_ROUTE_URL == router_api_stack.OUTPUT_ROUTE_URL
    assert operator_api.OUTPUT_API_KEY_ID == router_api_stack.OUTPUT_API_KEY_ID


def test_stack_names() -> None:
    config = AppConfig(project_name="vsr", stage="dev")
    names = [
        config.stack_name(role)
        for role in (operator_api.STORAGE, operator_api.PIPELINE, operator_api.ROUTER_API)
    ]
    assert names == ["vsr-dev-storage", "vsr-dev-pipeline", "vsr-dev-router-api"]


def test_report_keys_are_the_evaluation_steps_keys() -> None:
    layout = RunLayout("r1")
    assert operator_api.report_key("r1") == layout.report_json_key
    assert operator_api.report_key("r1", "html") == layout.report_html_key


def test_cleanup_recognises_every_name_a_run_gives_its_bedrock_resources() -> None:
    config = AppConfig(project_name="vsr", stage="dev")
    for run_id in ("20250601-123005-ab12", "Nightly_2025_06_01", "x" * 80):
        names = run_names(config.prefix, run_id)
        for name in (names.job_name, names.custom_model_name, names.deployment_name,
                     judge_job_name(config.prefix, run_id)):  # fmt: skip
            assert operator_api.is_project_resource(name, config), name
    other = run_names("vsr-prod", "20250601-123005-ab12")
    assert not operator_api.is_project_resource(other.deployment_name, config)
