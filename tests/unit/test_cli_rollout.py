"""`vsr promote --shadow/--canary` and `vsr rollout` (status with live figures and alarms, --percent, --finish,
--abort, --history) against moto (SSM, CloudWatch, STS, S3) and a stubbed Bedrock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws
from routing.evaluation.promotion import promote_run
from routing.evaluation.rollout import start_rollout

from cdk_app.operator.session import Overrides
from tests.unit.test_cli import (
    ACTIVE_DEPLOYMENT,
    DEPLOYMENT_ARN,
    Deployed,
    assert_one_line_error,
    aws_client,
    bedrock_stub,
    deploy,
    run,
    sample_report,
)

ACTIVE_ARN = DEPLOYMENT_ARN.replace("abc123", "old999")
SERVICE, NAMESPACE = "vsr-test-router", "vsr/test"
CALLER = "cli:arn:aws:sts::123456789012:user/moto"


@pytest.fixture
def env(tmp_path) -> Deployed:
    with mock_aws():
        yield deploy(tmp_path)


def _promote(env: Deployed, *args: str):
    env.put_report("good-run", sample_report("good-run"))
    bedrock, stub = bedrock_stub()
    stub.add_response(
        "get_custom_model_deployment", {**ACTIVE_DEPLOYMENT, "customModelDeploymentArn": DEPLOYMENT_ARN}
    )
    with stub:
        return run(env, "promote", "good-run", *args, obj=Overrides(clients={"bedrock": bedrock}))


def _put(name: str, value: float, at: datetime, unit: str = "Count") -> None:
    aws_client("cloudwatch").put_metric_data(Namespace=NAMESPACE, MetricData=[{
        "MetricName": name, "Dimensions": [{"Name": "service", "Value": SERVICE}],
        "Timestamp": at, "Value": value, "Unit": unit,
    }])  # fmt: skip


def test_promote_canary_starts_a_rollout_and_rollout_shows_changes_and_ends_it(env: Deployed) -> None:
    promote_run(aws_client("ssm"), env.parameter, ACTIVE_ARN, "old-run")
    result = _promote(env, "--canary", "10", "--finish-after-queries", "5000", "--yes")
    assert result.exit_code == 0, result.output
    assert "Started the canary rollout of run good-run" in result.output
    active = env.active()
    assert active.model_id == ACTIVE_ARN and active.rollout is not None
    assert (active.rollout.model_id, active.rollout.mode, active.rollout.percent) == (
        DEPLOYMENT_ARN,
        "canary",
        10,
    )
    assert active.rollout.auto_finish_after.queries == 5000
    assert active.change.by == CALLER

    again = _promote(env, "--canary", "10", "--finish-after-queries", "5000", "--yes")
    assert again.exit_code == 0 and "already running: nothing changed" in again.output

    started = datetime.fromisoformat(active.rollout.started_at)
    now = datetime.now(UTC)
    moment = started + (now - started) / 2 if now - started > timedelta(seconds=2) else started
    for name, value in (("RoutedQueries", 200), ("Fallbacks", 2), ("CandidateRequests", 40),
                        ("CandidateFallbacks", 4), ("CandidateParseFailures", 1)):  # fmt: skip
        _put(name, value, moment)
    status = run(env, "rollout")
    assert status.exit_code == 0, status.output
    assert f"Rollout: canary of {DEPLOYMENT_ARN} (run good-run) for 10 % of queries" in status.output
    assert "Finishes by itself after 5,000 candidate queries" in status.output
    (candidate_row,) = [line for line in status.output.splitlines() if "candidate " in line and "│" in line]
    assert [cell.strip() for cell in candidate_row.split("│")[1:-1]] == [
        "candidate",
        "40",
        "10.0 %",
        "1",
        "-",
    ]
    assert "vsr-test-rollout-candidate-fallback-rate missing" in status.output  # no alarm in moto

    moved = run(env, "rollout", "--percent", "50", "--yes")
    assert moved.exit_code == 0 and "now covers 50 % of queries" in moved.output
    assert env.active().rollout.percent == 50

    aborted = run(env, "rollout", "--abort", "--reason", "latency looks odd", "--yes")
    assert aborted.exit_code == 0, aborted.output
    after = env.active()
    assert (after.model_id, after.rollout) == (ACTIVE_ARN, None)
    assert after.change.action == "rollout_abort" and "latency looks odd" in after.change.reason
    assert_one_line_error(run(env, "rollout", "--abort", "--yes"), "no rollout")
    assert_one_line_error(run(env, "rollout", "--finish", "--yes"), "no rollout")

    history = run(env, "rollout", "--history")
    assert history.exit_code == 0, history.output
    for fragment in ("rollout_canary", "rollout_percent", "rollout_abort", "10 % -> 50 %", CALLER):
        assert fragment in history.output


def test_promote_shadow_then_finish_makes_the_candidate_active(env: Deployed) -> None:
    promote_run(aws_client("ssm"), env.parameter, ACTIVE_ARN, "old-run")
    assert _promote(env, "--shadow", "20", "--yes").exit_code == 0
    status = run(env, "rollout")
    assert "Shadow: 0 comparisons" in status.output
    finished = run(env, "rollout", "--finish", "--yes")
    assert finished.exit_code == 0, finished.output
    after = env.active()
    assert (after.model_id, after.run_id, after.rollout) == (DEPLOYMENT_ARN, "good-run", None)
    assert after.previous["model_id"] == ACTIVE_ARN and after.change.by == CALLER
    assert "No rollout is running." in run(env, "rollout").output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["promote", "good-run", "--shadow", "5", "--canary", "5"], "not both"),
        (["promote", "good-run", "--finish-after-hours", "2"], "needs --shadow or --canary"),
        (["promote", "good-run", "--canary", "150"], "less than or equal to 100"),
        (["rollout", "--finish", "--abort"], "give one of"),
        (["rollout", "--reason", "x"], "only with --abort"),
    ],
)
def test_rollout_usage_errors_exit_2(env: Deployed, args: list[str], fragment: str) -> None:
    result = run(env, *args)
    assert result.exit_code == 2 and fragment in result.output + result.stderr


def test_a_candidate_that_is_already_active_is_refused_in_one_line(env: Deployed) -> None:
    promote_run(aws_client("ssm"), env.parameter, DEPLOYMENT_ARN, "good-run")
    assert_one_line_error(_promote(env, "--canary", "10", "--yes"), "already the active model")


def test_a_direct_promotion_over_a_rollout_records_the_operator_who_ended_it(env: Deployed) -> None:
    promote_run(aws_client("ssm"), env.parameter, ACTIVE_ARN, "old-run")
    other = ACTIVE_ARN[:-12] + "cand44444444"
    start_rollout(aws_client("ssm"), env.parameter, model_id=other, run_id="r3", mode="shadow", percent=20,
                  by="run:r3")  # fmt: skip
    result = _promote(env, "--yes")
    assert result.exit_code == 0, result.output
    active = env.active()
    assert (active.model_id, active.rollout) == (DEPLOYMENT_ARN, None)
    assert (active.change.by, active.change.action) == (CALLER, "promote")
    assert "shadow rollout of " + other in active.change.reason


def test_a_rollback_over_a_rollout_records_the_operator_who_ended_it(env: Deployed) -> None:
    promote_run(aws_client("ssm"), env.parameter, ACTIVE_ARN, "old-run")
    promote_run(aws_client("ssm"), env.parameter, DEPLOYMENT_ARN, "new-run")
    other = ACTIVE_ARN[:-12] + "cand55555555"
    start_rollout(aws_client("ssm"), env.parameter, model_id=other, run_id="r4", mode="canary", percent=10,
                  by="run:r4")  # fmt: skip
    result = run(env, "rollback", "--yes")
    assert result.exit_code == 0, result.output
    active = env.active()
    assert (active.model_id, active.rollout) == (ACTIVE_ARN, None)
    assert (active.change.by, active.change.action) == (CALLER, "rollback")
    assert "canary rollout of " + other in active.change.reason
