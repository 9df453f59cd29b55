"""The operator CLI (`vsr`) end to end against moto: stacks discovered from CloudFormation
outputs, runs in Step Functions, reports in S3, the active model in SSM, Bedrock stubbed.

Each test deploys a miniature of the three stacks into moto (the real output names, literal
values) and runs the CLI through typer's CliRunner; user errors must be one line, never a
traceback.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import typer
from botocore.stub import Stubber
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from rich.console import Console
from routing.active_model import LocalModelRef
from routing.evaluation.promotion import read_active_model
from routing.pipeline.inputs import parse_execution_input
from typer.testing import CliRunner

from cdk_app.config import AppConfig
from cdk_app.operator.api import Operator
from cdk_app.operator.cli import app
from cdk_app.operator.commands.runs import follow
from cdk_app.operator.console import out
from cdk_app.operator.session import Overrides

REGION = "us-east-1"
PREFIX = "vsr-test"  # project_name vsr, stage test (the cdk.json written below)
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sfn"
DEPLOYMENT_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/abc123"
MODEL_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/amazon.nova-micro-v1:0:128k/abc123"
ROUTE_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/route"

# A Pass-state stand-in of the pipeline: the same state keys as the real one ($.run, $.dataset, ...).
PIPELINE = {
    "StartAt": "Plan",
    "States": {
        "Plan": {
            "Type": "Pass",
            "ResultPath": "$.run",
            "Next": "Generate",
            "Parameters": {
                "run_id.$": "$$.Execution.Name",
                "bucket": f"{PREFIX}-data",
                "prefix.$": "States.Format('runs/{}/', $$.Execution.Name)",
                "batches": [1, 2, 3, 4],
                "warnings": ["teacher us.amazon.nova-premier-v1:0 is Legacy"],
            },
        },
        "Generate": {
            "Type": "Map",
            "ItemsPath": "$.run.batches",
            "ResultPath": None,
            "Next": "PrepareDataset",
            "ItemProcessor": {
                "StartAt": "GenerateBatch",
                "States": {"GenerateBatch": {"Type": "Pass", "End": True}},
            },
        },
        "PrepareDataset": {
            "Type": "Pass",
            "ResultPath": "$.dataset",
            "Next": "CheckDistillation",
            "Result": {"train_count": 9900, "holdout_count": 100},
        },
        "CheckDistillation": {
            "Type": "Pass",
            "ResultPath": "$.distillation",
            "Next": "CheckDeployment",
            "Parameters": {
                "job_name.$": f"States.Format('{PREFIX}-{{}}-distillation', $$.Execution.Name)",
                "status": "Completed",
            },
        },
        "CheckDeployment": {
            "Type": "Pass",
            "ResultPath": "$.deployment",
            "Next": "Report",
            "Result": {"deployment_arn": DEPLOYMENT_ARN, "status": "Active"},
        },
        "Report": {
            "Type": "Pass",
            "ResultPath": "$.report",
            "Next": "Promote",
            "Parameters": {
                "report_key.$": "States.Format('runs/{}/report/report.json', $$.Execution.Name)",
                "gate": {"passed": True, "reasons": []},
            },
        },
        "Promote": {"Type": "Pass", "ResultPath": "$.promotion", "Result": {"promoted": True}, "End": True},
    },
}
FAILING_PIPELINE = {
    "StartAt": "Plan",
    "States": {
        "Plan": {"Type": "Pass", "ResultPath": "$.run", "Result": {"run_id": "r"}, "Next": "CaughtError"},
        "CaughtError": {
            "Type": "Pass",
            "ResultPath": "$.error",
            "Next": "Failed",
            "Result": {
                "Error": "DatasetTooSmall",
                "Cause": json.dumps(
                    {
                        "errorMessage": "only 80 valid examples, Bedrock needs 100",
                        "errorType": "DatasetTooSmall",
                    }
                ),
            },
        },
        "Failed": {"Type": "Fail", "Error": "PipelineFailed", "Cause": "see the notification"},
    },
}


ACTIVE_DEPLOYMENT = {"modelDeploymentName": "d", "modelArn": MODEL_ARN, "createdAt": datetime(2025, 11, 25, tzinfo=UTC),
                     "status": "Active"}  # fmt: skip


def sample_report(run_id: str, *, passed: bool = True, stand_in: bool = False) -> dict[str, Any]:
    def model(candidate: str, model_id: str, score: float, p95: float, usd: float) -> dict[str, Any]:
        return {
            "candidate": candidate,
            "model_id": model_id,
            "answers": 100,
            "mean_score": score,
            "score_distribution": {"1": 2, "2": 5, "3": 13, "4": 40, "5": 40},
            "json_validity": 0.99,
            "dominant_accuracy": 0.91,
            "mae": 0.041,
            "latency_ms": {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.2, "mean": p95 / 1.8},
            "tokens": {"input": 4200, "output": 6900},
            "errors": 0,
            "cost_per_1m_queries_usd": usd,
            "judge_mean_score": score - 0.1,
        }

    return {
        "schema_version": 1,
        "run_id": run_id,
        "generated_at": "2025-11-25T10:00:00+00:00",
        "dataset": {"train_count": 9900, "holdout_count": 100},
        "models": [
            model("distilled", DEPLOYMENT_ARN, 4.1, 900.0, 11.13),
            model("student", "amazon.nova-micro-v1:0:128k", 3.2, 850.0, 11.13),
            model("baseline", "us.anthropic.claude-haiku-4-5-20251001-v1:0", 4.2, 1900.0, 387.0),
        ],
        "headline": {
            "compared_with": "baseline",
            "score_delta": -0.1,
            "judge_score_delta": -0.1,
            "latency_p50_speedup": 2.11,
            "latency_p95_speedup": 2.11,
            "cost_ratio": 0.0288,
        },
        "judge": {"status": "Completed", "job_arn": None},
        "gate": {
            "passed": passed,
            "reasons": [] if passed else ["mean score 3.1 < 3.5"],
            "thresholds": {
                "min_mean_score": 3.5,
                "max_score_drop": 0.25,
                "min_json_validity": 0.95,
                "max_p95_latency_ratio": 1.0,
            },
            "checks": [
                {
                    "name": "min_mean_score",
                    "passed": passed,
                    "observed": 4.1 if passed else 3.1,
                    "threshold": 3.5,
                    "message": "mean score 4.10 >= 3.5" if passed else "mean score 3.1 < 3.5",
                }
            ],
        },
        "warnings": [],
        "offline_stand_in": stand_in,
    }


def test_sample_report_follows_the_report_schema() -> None:
    """The reports these tests render are valid schema_version 1 reports (the evaluation's schema)."""
    schema = json.loads(
        (Path(__file__).parents[2] / "lambdas/routing/evaluation/report.schema.json").read_text()
    )
    jsonschema.validate(sample_report("r1"), schema)
    jsonschema.validate(sample_report("r1", passed=False, stand_in=True), schema)


@dataclass
class Deployed:
    bucket: str
    parameter: str
    state_machine_arn: str
    cdk_json: Path

    def put_report(self, run_id: str, report: dict[str, Any], html: str = "<html>report</html>") -> None:
        s3 = aws_client("s3")
        s3.put_object(Bucket=self.bucket, Key=f"runs/{run_id}/report/report.json", Body=json.dumps(report))
        s3.put_object(Bucket=self.bucket, Key=f"runs/{run_id}/report/report.html", Body=html)

    def active(self):
        """The parameter's value as the router reads it (missing: no model promoted yet)."""
        return read_active_model(aws_client("ssm"), self.parameter)

    def wait_for(self, run_id: str) -> str:
        sfn = aws_client("stepfunctions")
        arn = f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{run_id}"
        deadline = time.monotonic() + 60  # generous: a loaded CI machine is slow, never wrong
        while time.monotonic() < deadline:
            status = sfn.describe_execution(executionArn=arn)["status"]
            if status != "RUNNING":
                return status
            time.sleep(0.01)
        raise AssertionError("the moto execution did not finish")


def _stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def deploy(
    tmp_path: Path,
    definition: dict[str, Any] = PIPELINE,
    stacks: tuple[str, ...] = ("storage", "pipeline", "router-api"),
) -> Deployed:
    bucket = f"{PREFIX}-data"
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    parameter = "/vsr/test/router/active-model"
    # No active-model parameter: as after `cdk deploy`, the first promotion creates it.
    sfn = aws_client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"{PREFIX}-pipeline", definition=json.dumps(definition), roleArn=ROLE
    )
    if "storage" in stacks:
        _stack(
            f"{PREFIX}-storage",
            {
                "DataBucketName": bucket,
                "ActiveModelParameterName": parameter,
                "DistillationRoleArn": ROLE,
                "EvaluationRoleArn": ROLE,
            },
        )
    if "pipeline" in stacks:
        _stack(
            f"{PREFIX}-pipeline",
            {
                "StateMachineArn": machine["stateMachineArn"],
                "NotificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t",
            },
        )
    if "router-api" in stacks:
        _stack(
            f"{PREFIX}-router-api", {"RouteUrl": ROUTE_URL, "RouterApiUrl": ROUTE_URL.removesuffix("route")}
        )
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        json.dumps(
            {
                "app": "x",
                "context": {
                    "project_name": "vsr",
                    "stage": "test",
                    "region": REGION,
                    "@aws-cdk/core:checkSecretUsage": True,
                },
            }
        )
    )
    return Deployed(bucket, parameter, machine["stateMachineArn"], cdk_json)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def env(aws: None, tmp_path: Path) -> Deployed:
    return deploy(tmp_path)


@functools.cache
def aws_client(service: str) -> Any:
    """One client per service for the whole module (moto intercepts clients made before a mock starts)."""
    return boto3.Session(region_name=REGION).client(service)


def run(
    deployed: Deployed | Path,
    *args: str,
    obj: Overrides | None = None,
    input: str | None = None,
    real_clients: bool = False,
):
    """`vsr --cdk-json <file> ARGS` on a wide terminal; the CLI's own boto3 session only with `real_clients`."""
    cdk_json = deployed.cdk_json if isinstance(deployed, Deployed) else deployed
    obj = obj or Overrides()
    if not real_clients and obj.client_factory is None:
        obj.client_factory = aws_client
    return CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--cdk-json", str(cdk_json), *args], obj=obj, input=input
    )


def assert_one_line_error(result, fragment: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


def bedrock_stub() -> tuple[Any, Stubber]:
    client = boto3.client("bedrock", region_name=REGION)
    return client, Stubber(client)


# --------------------------------------------------------------------------- start / runs


def test_start_sends_only_the_overrides_and_prints_id_and_console_link(env: Deployed) -> None:
    result = run(
        env,
        "start",
        "--examples",
        "600",
        "--holdout",
        "50",
        "--no-judge",
        "--teacher",
        "us.amazon.nova-premier-v1:0",
        "--gate",
        "min_mean_score=3.8",
        "--wait-seconds",
        "job=300",
        "--gold",
        "s3://vsr-dev-data/imports/gold.jsonl",
        "--run-id",
        "first-run",
    )
    assert result.exit_code == 0, result.output
    assert "Started run first-run in us-east-1" in result.output
    assert "console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/" in result.output
    assert "vsr watch first-run" in result.output
    sfn = aws_client("stepfunctions")
    execution = sfn.describe_execution(
        executionArn=env.state_machine_arn.replace(":stateMachine:", ":execution:") + ":first-run"
    )
    sent = json.loads(execution["input"])
    assert sent == {
        "examples": 600,
        "holdout": 50,
        "judge": False,
        "teacher_model_id": "us.amazon.nova-premier-v1:0",
        "gate": {"min_mean_score": 3.8},
        "wait_seconds": {"job": 300},
        "gold_s3_uri": "s3://vsr-dev-data/imports/gold.jsonl",
    }
    parse_execution_input(sent)  # what Plan accepts (strict types, no unknown keys)


def test_start_refuses_a_wait_plan_would_refuse_before_starting_anything(env: Deployed) -> None:
    result = run(env, "start", "--wait-seconds", "job=60")
    assert result.exit_code == 2
    assert "wait_seconds.job (60) must be 0 or at least 288 s" in result.output
    assert "Traceback" not in result.output


def test_start_generates_a_run_id_and_refuses_a_duplicate(env: Deployed) -> None:
    first = run(env, "start")
    assert first.exit_code == 0, first.output
    run_id = first.output.split("Started run ")[1].split()[0]
    assert len(run_id) == len("20250101-120000-abcd")
    again = run(env, "start", "--run-id", run_id)
    assert_one_line_error(again, f"a run named {run_id} already exists (")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--examples", "150"], "examples (150) must be at least holdout + 100"),
        (["--gate", "min_mean_score=9"], "min_mean_score"),
        (["--gate", "min_mean_score=1"], "'gate.min_mean_score' (1) would loosen the configured gate"),
        (["--gate", "nonsense"], "expected KEY=VALUE"),
        (["--run-id", "bad id"], "invalid run id"),
        (["--dataset", "/local/file.jsonl"], "not an s3://bucket/prefix URI"),
        (["--gold", "gold.jsonl"], "not an s3://bucket/prefix URI"),
    ],
)
def test_start_usage_errors_exit_2_before_any_call(env: Deployed, args: list[str], fragment: str) -> None:
    result = run(env, "start", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert (
        aws_client("stepfunctions").list_executions(stateMachineArn=env.state_machine_arn)["executions"] == []
    )


def test_runs_lists_recent_runs_with_status_and_duration(env: Deployed) -> None:
    for run_id in ("run-a", "run-b"):
        assert run(env, "start", "--run-id", run_id).exit_code == 0
        env.wait_for(run_id)
    result = run(env, "runs")
    assert result.exit_code == 0, result.output
    assert "run-a" in result.output and "run-b" in result.output
    assert result.output.count("SUCCEEDED") == 2
    only_failed = run(env, "runs", "--status", "failed")
    assert "No runs yet" in only_failed.output


def test_runs_with_no_runs_says_how_to_start(env: Deployed) -> None:
    result = run(env, "runs")
    assert result.exit_code == 0
    assert "No runs yet: start one with `vsr start`." in result.output


# --------------------------------------------------------------------------- watch


def test_watch_a_finished_run_prints_outcome_and_report_location(env: Deployed) -> None:
    assert run(env, "start", "--run-id", "done-run").exit_code == 0
    assert env.wait_for("done-run") == "SUCCEEDED"
    result = run(env, "watch", "latest")
    assert result.exit_code == 0, result.output
    assert "4/4 batches" in result.output
    assert "9,900 train / 100 held out" in result.output
    assert "Completed" in result.output and "Active" in result.output
    assert "is Legacy" in result.output
    assert "Run done-run succeeded in" in result.output
    assert "promoted: the router now serves this run's model" in result.output
    assert f"report: s3://{env.bucket}/runs/done-run/report/report.json" in result.output
    assert f"Completed  {PREFIX}-done-run-distillation" in result.output
    assert "vsr report done-run" in result.output


def test_watch_a_failed_run_exits_1_with_the_caught_error(aws: None, tmp_path: Path) -> None:
    env = deploy(tmp_path, FAILING_PIPELINE)
    assert run(env, "start", "--run-id", "bad-run").exit_code == 0
    assert env.wait_for("bad-run") == "FAILED"
    result = run(env, "watch", "bad-run")
    assert result.exit_code == 1
    assert "Run bad-run failed after" in result.stderr
    assert "DatasetTooSmall: only 80 valid examples, Bedrock needs 100" in result.stderr
    assert "Traceback" not in result.output


def test_follow_polls_until_the_run_ends(env: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    operator = Operator(
        AppConfig(project_name="vsr", stage="test"), REGION, boto3.Session(region_name=REGION).client
    )
    # The Wait state holds until the watcher's first sleep, not for a wall-clock second: on a
    # loaded CI machine a timed Wait could end before the first poll (the run then looked
    # finished at once, and this test failed in CI).
    released = threading.Event()
    monkeypatch.setattr(
        WaitFunction, "_wait_interval", lambda self, env, wait_seconds: released.wait(timeout=60)
    )
    slow = {"StartAt": "Plan", "States": {**PIPELINE["States"],
            "Plan": {**PIPELINE["States"]["Plan"], "Next": "WaitForTeacher"},
            "WaitForTeacher": {"Type": "Wait", "Seconds": 1, "Next": "Generate"}}}  # fmt: skip
    aws_client("stepfunctions").update_state_machine(
        stateMachineArn=env.state_machine_arn, definition=json.dumps(slow)
    )
    assert run(env, "start", "--run-id", "live-run").exit_code == 0
    deadline = time.monotonic() + 60
    while operator.progress("live-run").current_step != "WaitForTeacher":
        assert time.monotonic() < deadline, "the run never reached WaitForTeacher"
        time.sleep(0.02)
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        released.set()
        time.sleep(0.02)

    log = Console(file=io.StringIO(), width=120)  # not a terminal: one line per change, then the panel
    progress = follow(operator, "live-run", 7.0, sleep=sleep, console=log)
    assert progress.status == "SUCCEEDED"
    assert polls and all(seconds == 7.0 for seconds in polls)
    lines = log.file.getvalue().splitlines()
    assert "RUNNING | WaitForTeacher" in lines[0]
    assert any(
        "SUCCEEDED | Promote | Generate 4/4 | distillation Completed | deployment Active" in line
        for line in lines
    )
    assert len(lines) == len(set(lines))  # nothing repeated while nothing changed


def test_ctrl_c_stops_watching_not_the_run(env: Deployed) -> None:
    operator = Operator(
        AppConfig(project_name="vsr", stage="test"), REGION, boto3.Session(region_name=REGION).client
    )
    aws_client("stepfunctions").update_state_machine(
        stateMachineArn=env.state_machine_arn,
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
        ),
    )
    assert run(env, "start", "--run-id", "long-run").exit_code == 0

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    screen = Console(file=io.StringIO(), width=120)
    with pytest.raises(typer.Exit) as stopped:
        follow(operator, "long-run", 5.0, sleep=interrupt, console=screen)
    assert stopped.value.exit_code == 130
    assert "Run long-run goes on: `vsr watch long-run` to resume." in screen.file.getvalue()
    assert operator.describe("long-run")["status"] == "RUNNING"


def test_watch_unknown_run(env: Deployed) -> None:
    assert_one_line_error(
        run(env, "watch", "no-such-run"), "no run named no-such-run: list the runs with `vsr runs`"
    )


# --------------------------------------------------------------------------- report


def test_report_prints_the_summary_and_saves_html(env: Deployed, tmp_path: Path) -> None:
    assert run(env, "start", "--run-id", "rep-run").exit_code == 0
    env.put_report("rep-run", sample_report("rep-run"), html="<html>charts</html>")
    target = tmp_path / "out.html"
    result = run(env, "report", "rep-run", "--html", str(target))
    assert result.exit_code == 0, result.output
    for fragment in (
        "distilled",
        "baseline",
        "student",
        "4.10",
        "99.0%",
        "91.0%",
        "$11.13",
        "$387.00",
        "Distilled vs baseline: score -0.10, judge -0.10, p50 2.11x faster, p95 2.11x faster, 2.9% of the cost",
        "Gate: passed",
        "pass mean score 4.10 >= 3.5",
        f"s3://{env.bucket}/runs/rep-run/report/report.html",
    ):
        assert fragment in result.output
    assert "OFFLINE STAND-IN" not in result.output
    assert target.read_text() == "<html>charts</html>"


def test_report_json_and_offline_banner(env: Deployed) -> None:
    assert run(env, "start", "--run-id", "dry-run-1").exit_code == 0
    env.put_report("dry-run-1", sample_report("dry-run-1", stand_in=True))
    shown = run(env, "report", "dry-run-1")
    assert "OFFLINE STAND-IN" in shown.output and "not model results" in shown.output
    raw = run(env, "report", "dry-run-1", "--json")
    assert json.loads(raw.output)["offline_stand_in"] is True


def test_report_of_a_running_run_and_of_an_unknown_run(env: Deployed) -> None:
    aws_client("stepfunctions").update_state_machine(
        stateMachineArn=env.state_machine_arn,
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
        ),
    )
    assert run(env, "start", "--run-id", "busy").exit_code == 0
    assert_one_line_error(
        run(env, "report", "busy"), "run busy has no report yet (it is still running: `vsr watch busy`)"
    )
    assert_one_line_error(run(env, "report", "ghost"), "no run named ghost")


# --------------------------------------------------------------------------- promote / rollback


def test_promote_then_rollback(env: Deployed) -> None:
    assert run(env, "start", "--run-id", "good-run").exit_code == 0
    env.put_report("good-run", sample_report("good-run"))
    bedrock, stub = bedrock_stub()
    stub.add_response(
        "get_custom_model_deployment",
        {
            "customModelDeploymentArn": DEPLOYMENT_ARN,
            "modelDeploymentName": f"{PREFIX}-good-run",
            "modelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/x",
            "createdAt": datetime.now(UTC),
            "status": "Active",
        },
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )
    with stub:
        result = run(env, "promote", "good-run", "--yes", obj=Overrides(clients={"bedrock": bedrock}))
    assert result.exit_code == 0, result.output
    assert "Promoted run good-run" in result.output and "vsr rollback" in result.output
    assert "tier-0: none (the report calibrated no threshold)" in result.output
    active = env.active()
    assert (active.model_id, active.run_id, active.previous) == (DEPLOYMENT_ARN, "good-run", None)
    stub.add_response(
        "get_custom_model_deployment", {**ACTIVE_DEPLOYMENT, "customModelDeploymentArn": DEPLOYMENT_ARN}
    )
    with stub:
        again = run(env, "promote", "good-run", "--yes", obj=Overrides(clients={"bedrock": bedrock}))
    assert again.exit_code == 0 and "already the active model: nothing changed" in again.output
    assert env.active() == active

    # a second promotion keeps the first as `previous`; rollback returns to it
    env.put_report(
        "other-run",
        {
            **sample_report("other-run"),
            "models": [{**sample_report("other-run")["models"][0], "model_id": DEPLOYMENT_ARN + "2"}],
            # Its tier-0 model was calibrated: the manual promotion carries it, as the Promote step does.
            "local_model": {
                "s3_uri": "s3://data/runs/other-run/local-model/model.json",
                "sha256": None,
                "threshold": 0.61,
            },
        },
    )
    assert run(env, "start", "--run-id", "other-run").exit_code == 0
    stub.add_response(
        "get_custom_model_deployment",
        {
            "customModelDeploymentArn": DEPLOYMENT_ARN + "2",
            "modelDeploymentName": f"{PREFIX}-other-run",
            "modelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/y",
            "createdAt": datetime.now(UTC),
            "status": "Active",
        },
    )
    with stub:
        assert (
            run(env, "promote", "other-run", "-y", obj=Overrides(clients={"bedrock": bedrock})).exit_code == 0
        )
    assert env.active().previous["model_id"] == DEPLOYMENT_ARN
    assert env.active().local_model == LocalModelRef("s3://data/runs/other-run/local-model/model.json", 0.61)

    declined = run(env, "rollback", input="n\n")
    assert declined.exit_code == 1 and "cancelled: nothing changed" in declined.stderr
    assert env.active().model_id == DEPLOYMENT_ARN + "2"

    back = run(env, "rollback", input="y\n")
    assert back.exit_code == 0, back.output
    assert f"Rolled back to {DEPLOYMENT_ARN} (run good-run" in back.output
    assert (env.active().model_id, env.active().previous) == (DEPLOYMENT_ARN, None)
    assert_one_line_error(run(env, "rollback", "--yes"), "nothing to roll back to")


def test_promote_refuses_a_failed_gate_unless_forced(env: Deployed) -> None:
    assert run(env, "start", "--run-id", "weak-run").exit_code == 0
    env.put_report("weak-run", sample_report("weak-run", passed=False))
    assert_one_line_error(
        run(env, "promote", "weak-run", "--yes"),
        "did not pass the quality gate (mean score 3.1 < 3.5): add --force",
    )
    assert env.active().model_id is None

    bedrock, stub = bedrock_stub()
    stub.add_response(
        "get_custom_model_deployment",
        {
            "customModelDeploymentArn": DEPLOYMENT_ARN,
            "modelDeploymentName": "d",
            "modelArn": MODEL_ARN,
            "createdAt": datetime.now(UTC),
            "status": "Creating",
        },
    )
    with stub:
        result = run(
            env, "promote", "weak-run", "--yes", "--force", obj=Overrides(clients={"bedrock": bedrock})
        )
    assert_one_line_error(result, "is Creating, not Active")


def test_promote_refuses_an_offline_stand_in(env: Deployed) -> None:
    assert run(env, "start", "--run-id", "dry").exit_code == 0
    env.put_report("dry", sample_report("dry", stand_in=True))
    assert_one_line_error(run(env, "promote", "dry", "--yes"), "local dry run (offline stand-in)")


# --------------------------------------------------------------------------- route / status


class _Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self._body = json.dumps(body).encode()

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_route_signs_with_sigv4_and_prints_the_decision(
    env: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = []

    def urlopen(request, timeout):
        sent.append(request)
        return _Answer(
            {
                "visual": 0.2,
                "audio": 0.1,
                "transcription": 0.6,
                "metadata": 0.1,
                "reasoning": "spoken",
                "model": DEPLOYMENT_ARN,
                "source": "model",
                "degraded": False,
                "latency_ms": 412,
            }
        )

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    result = run(env, "route", "CEO discussing quarterly earnings")
    assert result.exit_code == 0, result.output
    (request,) = sent
    assert request.full_url == ROUTE_URL
    assert request.get_method() == "POST"
    assert json.loads(request.data) == {"query": "CEO discussing quarterly earnings"}
    auth = request.headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=") and f"/{REGION}/execute-api/aws4_request" in auth
    assert "X-amz-date" in request.headers
    assert "transcription" in result.output and "0.600" in result.output
    assert "source: model" in result.output and "412 ms" in result.output


def test_route_with_api_key_auth_reads_the_key_from_api_gateway(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = deploy(tmp_path, stacks=("storage", "pipeline"))
    key = aws_client("apigateway").create_api_key(name="router", enabled=True, value="k" * 30)
    _stack(f"{PREFIX}-router-api", {"RouteUrl": ROUTE_URL, "RouterApiKeyId": key["id"]})
    sent = []

    def urlopen(request, timeout):
        sent.append(request)
        return _Answer(
            {"visual": 1.0, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": "r", "degraded": True}
        )

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    result = run(env, "-c", "api_auth=api_key", "route", "sunset", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["degraded"] is True
    headers = dict(sent[0].header_items())
    assert headers["X-api-key"] == "k" * 30 and "Authorization" not in headers


def test_route_http_errors_are_one_line(env: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    def forbidden(request, timeout):
        raise urllib.error.HTTPError(
            request.full_url, 403, "Forbidden", {}, io.BytesIO(b'{"message": "Missing Authentication Token"}')
        )

    monkeypatch.setattr("urllib.request.urlopen", forbidden)
    assert_one_line_error(
        run(env, "route", "sunset"), "the router API answered 403: Missing Authentication Token"
    )


def test_route_without_the_router_stack(aws: None, tmp_path: Path) -> None:
    env = deploy(tmp_path, stacks=("storage", "pipeline"))
    assert_one_line_error(
        run(env, "route", "sunset"), "stack vsr-test-router-api is not deployed in us-east-1"
    )


def test_status_shows_what_is_deployed(aws: None, tmp_path: Path) -> None:
    env = deploy(tmp_path, stacks=("storage", "pipeline"))
    result = run(env, "status")
    assert result.exit_code == 0, result.output
    assert f"DataBucketName={env.bucket}" in result.output
    assert "vsr-test-router-api: not deployed" in result.output
    assert "Active model: the configured default (nothing promoted)" in result.output
    assert "Latest run: none yet" in result.output


# --------------------------------------------------------------------------- cleanup


def _list_responses(stub: Stubber, *, jobs: list[str], deployments: list[str], models: list[str]) -> None:
    now = datetime.now(UTC)
    base = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-micro-v1:0:128k"
    stub.add_response(
        "list_model_customization_jobs",
        {
            "modelCustomizationJobSummaries": [
                {
                    "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{name}",
                    "jobName": name,
                    "baseModelArn": base,
                    "status": "InProgress",
                    "creationTime": now,
                }
                for name in jobs
            ]
        },
        {"statusEquals": "InProgress", "nameContains": PREFIX},
    )
    stub.add_response("list_evaluation_jobs", {}, {"statusEquals": "InProgress", "nameContains": PREFIX})
    stub.add_response(
        "list_custom_model_deployments",
        {
            "modelDeploymentSummaries": [
                {
                    "customModelDeploymentArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/{name}",
                    "customModelDeploymentName": name,
                    "modelArn": MODEL_ARN,
                    "createdAt": now,
                    "status": "Active",
                }
                for name in deployments
            ]
        },
        {"nameContains": PREFIX},
    )
    stub.add_response(
        "list_custom_models",
        {
            "modelSummaries": [
                {
                    "modelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{name}",
                    "modelName": name,
                    "creationTime": now,
                    "baseModelArn": base,
                    "baseModelName": "nova-micro",
                }
                for name in models
            ]
        },
        {"nameContains": PREFIX},
    )


def test_cleanup_deletes_only_this_projects_resources_after_confirmation(env: Deployed) -> None:
    ours = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/{PREFIX}-run1"
    aws_client("ssm").put_parameter(
        Name=env.parameter,
        Overwrite=True,
        Type="String",
        Value=json.dumps(
            {"model_id": ours, "run_id": "run1", "promoted_at": "2025-11-25T10:00:00+00:00", "previous": None}
        ),
    )
    bedrock, stub = bedrock_stub()
    names = {
        "jobs": [f"{PREFIX}-run2", "vsr-testing-run9"],
        "deployments": [f"{PREFIX}-run1", "vsr-testx-run1"],
        "models": [f"{PREFIX}-run1", "someone-elses-vsr-test-model"],
    }

    _list_responses(stub, **names)  # declined: nothing deleted
    with stub:
        declined = run(env, "cleanup", obj=Overrides(clients={"bedrock": bedrock}), input="n\n")
    assert declined.exit_code == 1 and "cancelled: nothing changed" in declined.stderr
    assert f"{PREFIX}-run2" in declined.output and "vsr-testing-run9" not in declined.output
    assert "vsr-testx-run1" not in declined.output and "someone-elses" not in declined.output
    assert env.active().model_id == ours

    _list_responses(stub, **names)
    stub.add_response(
        "stop_model_customization_job",
        {},
        {"jobIdentifier": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{PREFIX}-run2"},
    )
    stub.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": ours})
    stub.add_response(
        "delete_custom_model",
        {},
        {"modelIdentifier": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{PREFIX}-run1"},
    )
    with stub:
        result = run(env, "cleanup", "--yes", obj=Overrides(clients={"bedrock": bedrock}))
        stub.assert_no_pending_responses()
    assert result.exit_code == 0, result.output
    assert "Removed 4 resources." in result.output
    assert (
        env.active().model_id is None
    )  # the router falls back to its default instead of a deleted deployment
    assert "--include-data" in result.output


def test_cleanup_include_data_empties_runs_prefix_of_every_version(env: Deployed) -> None:
    s3 = aws_client("s3")
    for body in ("v1", "v2"):
        s3.put_object(Bucket=env.bucket, Key="runs/r1/manifest.json", Body=body)
    s3.put_object(Bucket=env.bucket, Key="keep/me.txt", Body="x")
    bedrock, stub = bedrock_stub()
    _list_responses(stub, jobs=[], deployments=[], models=[])
    with stub:
        result = run(env, "cleanup", "--yes", "--include-data", obj=Overrides(clients={"bedrock": bedrock}))
    assert result.exit_code == 0, result.output
    versions = s3.list_object_versions(Bucket=env.bucket)
    assert [item["Key"] for item in versions.get("Versions", [])] == ["keep/me.txt"]
    assert not versions.get("DeleteMarkers")


def test_cleanup_with_nothing_left_and_stacks_destroyed(aws: None, tmp_path: Path) -> None:
    env = deploy(tmp_path, stacks=())
    bedrock, stub = bedrock_stub()
    _list_responses(stub, jobs=[], deployments=[], models=[])
    with stub:
        result = run(env, "cleanup", obj=Overrides(clients={"bedrock": bedrock}))
    assert result.exit_code == 0, result.output
    assert "stack vsr-test-pipeline is not deployed" in result.output
    assert "Nothing of vsr-test bills in us-east-1" in result.output


def test_cleanup_reports_what_could_not_be_deleted(env: Deployed) -> None:
    bedrock, stub = bedrock_stub()
    _list_responses(stub, jobs=[], deployments=[], models=[f"{PREFIX}-run1"])
    stub.add_client_error(
        "delete_custom_model",
        service_error_code="ConflictException",
        service_message="model has an active deployment",
        http_status_code=409,
    )
    with stub:
        result = run(env, "cleanup", "--yes", obj=Overrides(clients={"bedrock": bedrock}))
    assert result.exit_code == 1
    assert (
        "failed  custom model vsr-test-run1: DeleteCustomModel failed in us-east-1: ConflictException"
        in result.stderr
    )
    assert "1 of 1 could not be removed" in result.stderr


# --------------------------------------------------------------------------- user errors


def test_no_credentials_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"stage": "test"}}))
    for command in (["runs"], ["start"], ["report", "r1"], ["rollback", "--yes"], ["status"]):
        result = run(cdk_json, *command, real_clients=True)
        assert_one_line_error(result, "no AWS credentials found: run `aws configure` or `aws sso login`")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("ExpiredToken", "your AWS credentials have expired"),
        ("AccessDenied", "access denied calling DescribeStacks in us-east-1: not allowed"),
        ("InvalidClientTokenId", "AWS rejected your credentials (InvalidClientTokenId)"),
        ("Throttling", "DescribeStacks was throttled or hit a quota (Throttling)"),
    ],
)
def test_aws_errors_are_one_clear_line(tmp_path: Path, code: str, fragment: str) -> None:
    cfn = boto3.client("cloudformation", region_name=REGION)
    stub = Stubber(cfn)
    stub.add_client_error(
        "describe_stacks", service_error_code=code, service_message="not allowed", http_status_code=403
    )
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"stage": "test"}}))
    with stub:
        result = run(cdk_json, "runs", obj=Overrides(clients={"cloudformation": cfn}))
    assert_one_line_error(result, fragment)


def test_wrong_region_says_the_stack_is_not_deployed_there(env: Deployed) -> None:
    assert_one_line_error(
        run(env, "--region", "eu-west-1", "runs", real_clients=True),
        "stack vsr-test-pipeline is not deployed in eu-west-1",
    )
    bad = run(env, "--region", "narnia", "runs")
    assert bad.exit_code == 2 and "'narnia' is not an AWS region name" in bad.output


def test_configuration_errors_exit_2(env: Deployed, tmp_path: Path) -> None:
    result = run(env, "-c", "examples=5", "cost")
    assert_one_line_error(
        result, "Invalid configuration: -c examples: examples (5) must be at least holdout + 100", code=2
    )
    missing = CliRunner().invoke(app, ["--cdk-json", str(tmp_path / "nope.json"), "runs"])
    assert_one_line_error(missing, "nope.json: no such file (--cdk-json)", code=2)


def test_unexpected_errors_are_one_line_too(env: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, limit=10, status=None):
        raise KeyError("surprise")

    monkeypatch.setattr(Operator, "runs", broken)
    assert_one_line_error(
        run(env, "runs"), "unexpected KeyError: 'surprise' (set VSR_DEBUG=1 to see the traceback)"
    )


def test_cost_needs_no_aws_and_prints_assumptions(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"stage": "test"}}))
    result = run(cdk_json, "cost", "--no-judge", "--assume", "distillation_epochs=3")
    assert result.exit_code == 0, result.output
    assert "Total (run + 1 month of storage)" in result.output and "LLM judge: off" in result.output
    assert "x 3 epochs" in result.output and "$11.13" in result.output and "$387.00" in result.output
    bad = run(cdk_json, "cost", "--assume", "epochs=3")
    assert bad.exit_code == 2 and "unknown assumption 'epochs'" in bad.output


def test_cost_is_readable_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A long model id (an application inference profile ARN) and the largest run: wrapped, never cut.
    profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefgh1234"
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"baseline_model_id": profile}}))
    monkeypatch.setattr(out, "width", 80)
    result = run(cdk_json, "cost", "--examples", "15000", "--holdout", "1000")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, [
        line for line in lines if len(line.rstrip()) > 80
    ]
    assert "\u2026" not in result.output and "..." not in result.output  # nothing truncated
    flat = re.sub(r"\s+", "", result.output)
    assert f"baseline{profile}" in flat  # the run's models, one per line
    assert f"42/69$11.13{profile}" in flat  # the serving row: its model id folds at the end of the row
    assert "Total(run+1monthofstorage)" in flat
    assert "notcounted:StepFunctions,Lambda,S3,CloudWatch(centsperrun)" in flat


# --------------------------------------------------------------------------- the real definition


def _real_pipeline(topic_arn: str) -> str:
    """statemachine/pipeline.asl.json with fake Lambda ARNs named after their step."""
    from stacks.constructs.pipeline_definition import (
        PREFIX_SUBSTITUTION,
        STEP_FUNCTIONS,
        TOPIC_SUBSTITUTION,
        function_substitution,
        load_definition,
        placeholders,
        render,
    )

    template = load_definition()
    values = {
        function_substitution(step): f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{step}"
        for step in STEP_FUNCTIONS
    }
    values.update({TOPIC_SUBSTITUTION: topic_arn, PREFIX_SUBSTITUTION: PREFIX})
    # placeholders the evaluation part may add later get a fake ARN too (they are never reached here)
    values.update(
        {
            name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            for name in placeholders(template) - set(values)
        }
    )
    return render(template, values)


def test_watch_a_run_of_the_real_definition_failing_in_check_distillation(
    tmp_path: Path, monkeypatch
) -> None:
    """Generation batches, dataset, job status and the failed step, from a real history of the pipeline."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    run_state = {"run_id": "real-run", "bucket": f"{PREFIX}-data", "prefix": "runs/real-run/", "manifest_key": "m",
                 "settings": {"generation_concurrency": 2, "wait_seconds": {"job": 0, "deployment": 0, "evaluation": 0}},
                 "warnings": []}  # fmt: skip
    job = {"job_arn": "arn:job", "job_name": f"{PREFIX}-real-run-distillation", "custom_model_arn": None,
           "deadline": "2025-11-27T10:00:00+00:00", "polls": 0}  # fmt: skip
    payloads = {
        "Plan": {"run": run_state, "generation": {"items": [0, 1, 2]}},
        "Generate": {"batch": 0, "valid": 25, "dropped": 0, "skipped": False},
        "PrepareDataset": {
            "train_key": "t",
            "holdout_key": "h",
            "stats_key": "s",
            "train_count": 9900,
            "holdout_count": 100,
            "failed_batches": 0,
            "gold_key": None,
            "gold_count": 0,
            "leaks": {"gold": 0, "holdout": 0},
        },
        "StartDistillation": {**job, "status": "InProgress"},
    }

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        step = function_name.rsplit(":", 1)[-1]
        if step == "CheckDistillation":
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorType": "JobFailed",
                    "errorMessage": "distillation job failed: ValidationException: bad record 12",
                }
            ).encode()
        return json.dumps(payloads[step]).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        topic = aws_client("sns").create_topic(Name="runs")["TopicArn"]
        env = deploy(tmp_path, definition={"StartAt": "X", "States": {"X": {"Type": "Succeed"}}})
        aws_client("stepfunctions").update_state_machine(
            stateMachineArn=env.state_machine_arn, definition=_real_pipeline(topic)
        )
        assert run(env, "start", "--run-id", "real-run").exit_code == 0
        assert env.wait_for("real-run") == "FAILED"
        result = run(env, "watch", "real-run")
    assert result.exit_code == 1
    assert "3/3 batches" in result.output
    assert "9,900 train / 100 held out" in result.output
    assert f"InProgress  {PREFIX}-real-run-distillation" in result.output
    assert ("Run real-run failed at step CheckDistillation after" in result.stderr
            and "JobFailed: distillation job failed: ValidationException: bad record 12" in result.stderr)  # fmt: skip
