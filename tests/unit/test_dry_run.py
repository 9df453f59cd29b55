"""The local dry run's setup (cdk_app/dry_run.py): configuration, the handlers' environment, the
definition's functions and the progress lines. The run itself: tests/statemachine/test_dry_run.py."""

from __future__ import annotations

import json

import pytest
from routing.evaluation.events import (
    CheckJudgeEnv,
    EvaluateEnv,
    PromoteEnv,
    ReportEnv,
    StartJudgeEnv,
)
from routing.pipeline.settings import PipelineSettings

from cdk_app.config import AppConfig
from cdk_app.dry_run import (
    BUCKET,
    LABEL,
    DryRunError,
    ProgressPrinter,
    dry_run_environment,
    load_app_config,
    main,
    step_folders,
)
from stacks.constructs.pipeline_definition import load_definition


def test_the_environment_is_what_every_handler_parses_with_the_offline_flag_on() -> None:
    config = AppConfig(examples=300, holdout=50)
    environment = dry_run_environment(config)
    settings = PipelineSettings.from_environ(environment)
    assert (settings.examples, settings.holdout, settings.data_bucket) == (300, 50, BUCKET)
    assert EvaluateEnv.from_environ(environment).offline_stand_in is True
    assert StartJudgeEnv.from_environ(environment).job_name_prefix == config.prefix
    assert CheckJudgeEnv.from_environ(environment).deadline_hours == config.evaluation_deadline_hours
    assert ReportEnv.from_environ(environment).gate.min_mean_score == config.gate.min_mean_score
    assert PromoteEnv.from_environ(environment).parameter_name == config.active_model_parameter_name


def test_the_environment_matches_the_pipeline_stacks() -> None:
    from stacks.constructs.function_environment import pipeline_environment

    config = AppConfig()
    environment = dry_run_environment(config)
    stack = pipeline_environment(
        config, bucket_name=BUCKET, distillation_role_arn=environment["DISTILLATION_ROLE_ARN"]
    )
    assert {key: environment.get(key) for key in stack} == stack


def test_sizes_are_checked_like_the_configuration() -> None:
    assert load_app_config(300, 50).examples == 300
    with pytest.raises(DryRunError, match="holdout"):
        load_app_config(120, 50)


def test_main_refuses_bad_sizes_with_a_labelled_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--examples", "120", "--holdout", "50"]) == 2
    assert LABEL in capsys.readouterr().out


def test_every_function_of_the_definition_maps_to_its_handler_folder() -> None:
    folders = step_folders(load_definition())
    assert folders["Plan"] == "plan"
    assert folders["PrepareDataset"] == "prepare_dataset"
    assert folders["CheckDeployment"] == "check_deployment"
    with pytest.raises(DryRunError, match=r"lambdas/no_such_step/handler\.py"):
        step_folders('{"Resource": "${NoSuchStepFunctionArn}"}')
    with pytest.raises(DryRunError, match="TopicName"):
        step_folders('{"TopicArn": "${TopicName}"}')


def test_progress_lines_show_states_batches_and_statuses() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, started=0.0)
    output = {"distillation": {"job_name": "vsr-dev-run-1-distillation", "status": "InProgress"}}
    events = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "StartDistillation"}},
        {"type": "ChoiceStateEntered", "stateEnteredEventDetails": {"name": "IsDistillationComplete"}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "CheckDistillation"}},
        {
            "type": "TaskStateExited",
            "stateExitedEventDetails": {"name": "CheckDistillation", "output": json.dumps(output)},
        },
        {"type": "MapStateEntered", "stateEnteredEventDetails": {"name": "Generate"}},
        {"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": 2}},
        {"type": "MapIterationSucceeded", "mapIterationSucceededEventDetails": {"index": 0}},
        {"type": "MapIterationSucceeded", "mapIterationSucceededEventDetails": {"index": 1}},
        {"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "RunFailed"}},
    ]
    for event in events:
        printer(event)
    texts = [line.split(" | ", 2)[2] for line in lines]
    assert all(line.startswith(f"{LABEL} | ") for line in lines)
    assert texts == [
        "StartDistillation",
        "CheckDistillation: job vsr-dev-run-1-distillation InProgress",
        "Generate: 2 teacher batches (Map)",
        "Generate: 1/2 batches done",
        "Generate: 2/2 batches done",
        "execution FAILED: RunFailed",
    ]
