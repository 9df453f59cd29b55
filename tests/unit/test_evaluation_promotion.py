"""Promotion and rollback of the active-model parameter (moto SSM), and the Promote step's refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from routing.active_model import parse_active_model
from routing.errors import GateNotPassed, NothingToRollBack, ReportNotFound
from routing.evaluation.promotion import (
    promote_from_report,
    promote_run,
    promote_step,
    read_active_model,
    rollback,
)
from routing.settings import PromoteEnv
from routing.state import PromoteEvent

from tests.evaluation_support import DEPLOYMENT_ARN
from tests.pipeline_support import deployment_state, run_state

NAME = "/vsr/dev/router/active-model"
INITIAL = json.dumps({"model_id": None, "run_id": None, "promoted_at": None, "previous": None})
OTHER_ARN = DEPLOYMENT_ARN.replace("abcdef123456", "999999999999")


@pytest.fixture
def ssm():
    """SSM as after `cdk deploy`: no stack creates the parameter, the first promotion does."""
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def value(ssm) -> dict:
    return json.loads(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])


def test_promotion_keeps_the_previous_value_and_rollback_restores_it(ssm) -> None:
    first = promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert first.to_dict() == {"promoted": True, "model_id": DEPLOYMENT_ARN, "previous_model_id": None,
                               "run_id": "run-1", "changed": True, "rollout": None}  # fmt: skip
    assert value(ssm) == {"model_id": DEPLOYMENT_ARN, "run_id": "run-1", "promoted_at": "2025-01-01T00:00:00+00:00",
                          "previous": None}  # fmt: skip
    second = promote_run(ssm, NAME, OTHER_ARN, "run-2", now=datetime(2025, 2, 1, tzinfo=UTC))
    assert second.previous_model_id == DEPLOYMENT_ARN
    assert value(ssm)["previous"] == {
        "model_id": DEPLOYMENT_ARN,
        "run_id": "run-1",
        "promoted_at": "2025-01-01T00:00:00+00:00",
    }

    restored = rollback(ssm, NAME)
    assert restored.model_id == DEPLOYMENT_ARN
    assert value(ssm) == {"model_id": DEPLOYMENT_ARN, "run_id": "run-1", "promoted_at": "2025-01-01T00:00:00+00:00",
                          "previous": None}  # fmt: skip
    with pytest.raises(NothingToRollBack):
        rollback(ssm, NAME)
    assert read_active_model(ssm, NAME).model_id == DEPLOYMENT_ARN


def test_promoting_the_same_run_twice_writes_nothing(ssm) -> None:
    promote_run(ssm, NAME, OTHER_ARN, "run-0")
    promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1")
    version = ssm.get_parameter(Name=NAME)["Parameter"]["Version"]
    again = promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1")
    assert not again.changed and again.previous_model_id == OTHER_ARN
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Version"] == version


def test_rollback_before_any_promotion_is_refused_and_writes_nothing(ssm) -> None:
    with pytest.raises(NothingToRollBack, match="configured default"):
        rollback(ssm, NAME)
    assert ssm.describe_parameters()["Parameters"] == []


def test_the_first_promotion_creates_the_parameter(ssm) -> None:
    result = promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1")
    assert (result.changed, result.previous_model_id) == (True, None)
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Version"] == 1
    assert value(ssm)["model_id"] == DEPLOYMENT_ARN and value(ssm)["previous"] is None


def test_a_value_written_by_an_earlier_version_of_the_stack_is_read_and_kept(ssm) -> None:
    ssm.put_parameter(Name=NAME, Value=INITIAL, Type="String")  # the template's initial value
    promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1")
    assert value(ssm)["model_id"] == DEPLOYMENT_ARN and value(ssm)["previous"] is None


def test_a_missing_parameter_reads_as_no_active_model() -> None:
    with mock_aws():
        assert read_active_model(boto3.client("ssm", region_name="us-east-1"), "/nope").model_id is None


def _promote_event(passed: bool) -> PromoteEvent:
    return PromoteEvent.model_validate({
        "run": run_state("run-7", bucket="bucket"),
        "deployment": deployment_state(DEPLOYMENT_ARN, "run-7"),
        "report": {"report_key": "runs/run-7/report/report.json", "gate": {"passed": passed, "reasons": ["x"]}},
    })  # fmt: skip


def test_promote_step_writes_only_after_a_passed_gate(ssm) -> None:
    with pytest.raises(GateNotPassed):
        promote_step(_promote_event(False), settings=PromoteEnv(parameter_name=NAME), ssm=ssm)
    assert ssm.describe_parameters()["Parameters"] == []  # nothing written
    result = promote_step(_promote_event(True), settings=PromoteEnv(parameter_name=NAME), ssm=ssm)
    assert (
        result["promoted"]
        and parse_active_model(ssm.get_parameter(Name=NAME)["Parameter"]["Value"]).run_id == "run-7"
    )


def test_a_passing_run_starts_the_configured_rollout_instead_and_a_retry_changes_nothing(ssm) -> None:
    promote_run(ssm, NAME, OTHER_ARN, "run-6")
    settings = PromoteEnv.from_environ({
        "ACTIVE_MODEL_PARAMETER": NAME,
        "PROMOTION": json.dumps({"on_pass": "canary", "percent": 10, "auto_finish_after": {"queries": 5000}}),
    })  # fmt: skip
    result = promote_step(_promote_event(True), settings=settings, ssm=ssm)
    assert (result["promoted"], result["model_id"], result["changed"]) == (False, OTHER_ARN, True)
    assert result["rollout"]["mode"] == "canary" and result["rollout"]["percent"] == 10
    value = parse_active_model(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])
    assert value.model_id == OTHER_ARN and value.rollout is not None
    assert (value.rollout.model_id, value.rollout.run_id) == (DEPLOYMENT_ARN, "run-7")
    assert value.rollout.auto_finish_after is not None and value.rollout.auto_finish_after.queries == 5000
    assert value.change is not None and value.change.by == "run:run-7"
    with pytest.raises(GateNotPassed):
        promote_step(_promote_event(False), settings=settings, ssm=ssm)
    again = promote_step(_promote_event(True), settings=settings, ssm=ssm)  # a retried step
    assert again["changed"] is False
    assert len(ssm.get_parameter_history(Name=NAME)["Parameters"]) == 2


def test_manual_promotion_of_a_named_run(ssm) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    report = {"run_id": "run-9", "gate": {"passed": False, "reasons": ["FAILED min_mean_score: 3.0 < 3.5"]},
              "models": [{"candidate": "distilled", "model_id": DEPLOYMENT_ARN}], "offline_stand_in": False}  # fmt: skip
    s3.put_object(Bucket="data", Key="runs/run-9/report/report.json", Body=json.dumps(report))
    with pytest.raises(GateNotPassed, match="min_mean_score"):
        promote_from_report(s3, ssm, bucket="data", run_id="run-9", parameter_name=NAME)
    assert read_active_model(ssm, NAME).model_id is None
    forced = promote_from_report(s3, ssm, bucket="data", run_id="run-9", parameter_name=NAME, force=True)
    assert forced.model_id == DEPLOYMENT_ARN and value(ssm)["run_id"] == "run-9"
    with pytest.raises(ReportNotFound):
        promote_from_report(s3, ssm, bucket="data", run_id="run-404", parameter_name=NAME)
