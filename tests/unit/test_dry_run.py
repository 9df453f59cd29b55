"""The local dry run's setup (cdk_app/local/dry_run.py): configuration, the handlers' environment, the
definition's functions and the progress lines (cdk_app/local/progress_lines.py). The run itself: tests/statemachine/test_dry_run.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from routing.settings import (
    CheckJudgeEnv,
    EvaluateEnv,
    PipelineSettings,
    PromoteEnv,
    ReportEnv,
    StartJudgeEnv,
)

from cdk_app.config import AppConfig
from cdk_app.local.dry_run import (
    BUCKET,
    LABEL,
    DryRunError,
    dry_run_environment,
    load_app_config,
    main,
    step_folders,
)
from cdk_app.local.progress_lines import ProgressLines
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
    output = capsys.readouterr().out
    assert LABEL in output
    # The flags named, the real minimum (holdout + 100), not "cdk.json context key" nor a fixed 101.
    assert "--examples, --holdout: examples (120) must be at least holdout + 100 (150)" in output
    assert "cdk.json" not in output and "101" not in output


def test_context_and_cdk_json_are_honoured_with_the_apps_parsing(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps({"context": {"examples_per_call": 30, "examples": 10_000, "stage": "test"}})
    )
    config = load_app_config(cdk_json=cdk_json, context=[("examples_per_call", "40"), ("judge", "false")])
    assert (config.examples_per_call, config.judge, config.stage) == (40, False, "test")
    # A real run's sizes stay out of a dry run; a -c size is honoured, a flag beats it.
    assert (config.examples, config.holdout) == (300, 50)
    assert load_app_config(cdk_json=cdk_json, context=[("examples", "400")]).examples == 400
    assert load_app_config(500, cdk_json=cdk_json, context=[("examples", "400")]).examples == 500


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"context": [("api_auth", "open")]}, "-c api_auth: Input should be 'iam' or 'api_key' (got 'open')"),
        ({"context": [("exmaples", "400")]}, "-c exmaples: unknown setting"),
        ({"context": [("examples", "many")]}, "-c examples: Input should be a valid integer"),
        ({"modalities": ["visual", "Mood"]}, "--modalities: 'Mood' is not a valid modality name"),
        ({"modalities": ["visual"]}, "--modalities: give between 2 and 12 modalities"),
        ({"examples": 50}, "--examples: examples (50) must be at least holdout + 100 (150)"),
    ],
)
def test_bad_command_line_values_name_their_flag(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DryRunError) as error:
        load_app_config(**kwargs)
    assert fragment in str(error.value)
    assert "cdk.json" not in str(error.value)
    assert "\n" not in str(error.value)


def test_a_custom_modality_set_reaches_every_handler() -> None:
    config = load_app_config(modalities=["visual", "audio", "mood"])
    assert config.modalities == ["visual", "audio", "mood"]
    assert PipelineSettings.from_environ(dry_run_environment(config)).modalities == (
        "visual",
        "audio",
        "mood",
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--run-id", "bad/id"], "--run-id: invalid run id 'bad/id'"),
        (["--run-id", "x" * 81], "--run-id: invalid run id"),
        (["--modalities", "visual,,audio"], "--modalities: '' is not a valid modality name"),
    ],
)
def test_bad_values_stop_before_the_run_in_one_line(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*args, "--out", str(tmp_path)]) == 2
    output = capsys.readouterr().out
    assert output.count("\n") == 1 and fragment in output and "dry run not started" in output
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written


def test_an_unwritable_out_is_one_line_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["--out", str(blocker), "--run-id", "r1"]) == 2
    output = capsys.readouterr().out
    assert output.count("\n") == 1
    assert f"--out {blocker}: cannot write {blocker / 'r1'} (Not a directory)" in output


def test_vsr_passes_its_context_and_cdk_json_to_the_dry_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cdk_app.operator.cli import app

    result = CliRunner().invoke(app, ["-c", "api_auth=open", "dry-run", "--run-id", "r1"])
    assert result.exit_code == 2, result.output
    assert "-c api_auth: Input should be 'iam' or 'api_key'" in result.output
    missing = CliRunner().invoke(app, ["--cdk-json", str(tmp_path / "nope.json"), "dry-run"])
    assert missing.exit_code == 2 and "nope.json: no such file (--cdk-json)" in missing.output


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
    printer = ProgressLines(lines.append, started=0.0, run_id="run-1")
    # Every top-level state carries `$.run` (the state contract); Map events name their Map state.
    output = {
        "run": {"run_id": "run-1"},
        "distillation": {"job_name": "vsr-dev-run-1-distillation", "status": "InProgress"},
    }
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
        {
            "type": "MapIterationSucceeded",
            "mapIterationSucceededEventDetails": {"name": "Generate", "index": 0},
        },
        {
            "type": "MapIterationSucceeded",
            "mapIterationSucceededEventDetails": {"name": "Generate", "index": 1},
        },
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


def test_vsr_dry_run_help_lists_the_dry_runs_own_flags() -> None:
    from typer.testing import CliRunner

    from cdk_app.operator.cli import app

    result = CliRunner().invoke(app, ["dry-run", "--help"])
    assert result.exit_code == 0, result.output
    for flag in (
        "--examples",
        "--holdout",
        "--modalities",
        "--out",
        "--seed",
        "--run-id",
        "-c KEY=VALUE",
        "--cdk-json",
    ):
        assert flag in result.output
