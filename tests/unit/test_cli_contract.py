"""The CLI finds a deployment by its names: stack names from the roles, reports and Bedrock resources by run."""

from __future__ import annotations

from routing.evaluation.judge import judge_job_name
from routing.layout import RunLayout
from routing.pipeline.names import run_names

from cdk_app.config import AppConfig
from cdk_app.operator.cleanup import is_project_resource
from cdk_app.operator.reports import report_key
from cdk_app.stack_outputs import PIPELINE, ROUTER_API, STORAGE


def test_stack_names() -> None:
    config = AppConfig(project_name="vsr", stage="dev")
    names = [config.stack_name(role) for role in (STORAGE, PIPELINE, ROUTER_API)]
    assert names == ["vsr-dev-storage", "vsr-dev-pipeline", "vsr-dev-router-api"]


def test_report_keys_are_the_evaluation_steps_keys() -> None:
    layout = RunLayout("r1")
    assert report_key("r1") == layout.report_json_key
    assert report_key("r1", "html") == layout.report_html_key


def test_cleanup_recognises_every_name_a_run_gives_its_bedrock_resources() -> None:
    config = AppConfig(project_name="vsr", stage="dev")
    for run_id in ("20250601-123005-ab12", "Nightly_2025_06_01", "x" * 80):
        names = run_names(config.prefix, run_id)
        for name in (names.job_name, names.custom_model_name, names.deployment_name,
                     judge_job_name(config.prefix, run_id)):  # fmt: skip
            assert is_project_resource(name, config), name
    other = run_names("vsr-prod", "20250601-123005-ab12")
    assert not is_project_resource(other.deployment_name, config)
