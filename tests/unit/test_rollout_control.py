"""The rollout controller in moto: an alarm event aborts the rollout and tells the topic; the schedule
finishes a rollout whose auto_finish_after is reached; both are idempotent; bad events are ignored."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from routing.active_model import AutoFinish
from routing.clients import override_clock
from routing.errors import NoRollout, RolloutControlFailed, RolloutRefused
from routing.evaluation.promotion import promote_run, read_active_model
from routing.evaluation.rollout import (
    abort_rollout,
    finish_rollout,
    parameter_history,
    set_rollout_percent,
    start_rollout,
)
from routing.evaluation.rollout_control import statistics_period
from routing.observability import logger
from routing.settings import RolloutControlEnv

from cdk_app.local.pipeline import LocalLambdaContext, load_step_handlers
from tests.evaluation_support import DEPLOYMENT_ARN

REGION = "us-east-1"
NAME = "/vsr/dev/router/active-model"
CANDIDATE = DEPLOYMENT_ARN.replace("abcdef123456", "cand11111111")
NAMESPACE, SERVICE = "vsr/dev", "vsr-dev-router"
ALARMS = ("vsr-dev-rollout-candidate-fallback-rate", "vsr-dev-rollout-candidate-latency")
RULE_ARN = f"arn:aws:events:{REGION}:123456789012:rule/vsr-dev-rollout-schedule"
STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HANDLER = load_step_handlers({"RolloutControl": "rollout_control"})["rollout_control"]
CONTEXT = LocalLambdaContext(
    "rollout_control", f"arn:aws:lambda:{REGION}:123456789012:function:rollout", "request-1"
)


def alarm_event(name: str = ALARMS[0], value: str = "ALARM") -> dict:
    """CloudWatch's documented "CloudWatch Alarm State Change" event (CloudWatch user guide, "Alarm events
    and EventBridge", the metric math alarm example), for one of the rollout alarms:
    {"version": "0", "id": ..., "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
    "account": "123456789012", "time": ..., "region": "us-east-1", "resources": ["arn:aws:cloudwatch:...:alarm:<name>"],
    "detail": {"alarmName": ..., "configuration": {...}, "previousState": {...},
    "state": {"reason": ..., "reasonData": ..., "timestamp": ..., "value": "ALARM"}}}"""
    return {
        "version": "0",
        "id": "2dde0eb1-528b-d2d5-9ca6-6d590caf2329",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-12-01T12:20:00Z",
        "region": REGION,
        "resources": [f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "configuration": {
                "metrics": [
                    {
                        "expression": "IF(requests >= 20, 100 * fallbacks / requests)",
                        "id": "expr_1",
                        "label": "Candidate fallback rate (%)",
                        "returnData": True,
                    }
                ]
            },
            "previousState": {
                "reason": "Threshold Crossed: no datapoints were received for 3 periods.",
                "timestamp": "2026-12-01T12:00:00.000+0000",
                "value": "OK",
            },
            "state": {
                "reason": "Threshold Crossed: 2 out of the last 3 datapoints [12.5, 9.1] were greater than "
                "the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).",
                "reasonData": '{"version":"1.0","queryDate":"2026-12-01T12:20:00.000+0000"}',
                "timestamp": "2026-12-01T12:20:00.000+0000",
                "value": value,
            },
        },
    }


def schedule_event() -> dict:
    """EventBridge's scheduled event: detail-type "Scheduled Event", source aws.events, the rule in resources."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-01T14:00:00Z",
        "region": REGION,
        "resources": [RULE_ARN],
        "detail": {},
    }


@pytest.fixture
def world(monkeypatch):
    """SSM with an active model and a canary of the candidate, a topic with an SQS subscriber, CloudWatch."""
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        topic = sns.create_topic(Name="rollout")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        promote_run(ssm, NAME, DEPLOYMENT_ARN, "run-1", now=STARTED - timedelta(days=7))
        settings = RolloutControlEnv(
            parameter_name=NAME,
            topic_arn=topic,
            alarm_names=ALARMS,
            metrics_namespace=NAMESPACE,
            metrics_service=SERVICE,
        )
        for key, value in {**settings.to_environ(), "AWS_REGION": REGION}.items():
            monkeypatch.setenv(key, value)
        yield {"ssm": ssm, "sqs": sqs, "queue": queue, "cloudwatch": cloudwatch}


def _canary(ssm, *, queries: int | None = 1000, hours: float | None = None) -> None:
    start_rollout(ssm, NAME, model_id=CANDIDATE, run_id="run-2", mode="canary", percent=10, by="run:run-2",
                  auto_finish_after=AutoFinish(queries=queries, hours=hours), now=STARTED)  # fmt: skip


def _messages(world) -> list[dict]:
    found = world["sqs"].receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in found]


def _run(event: dict, at: datetime) -> dict:
    with override_clock(lambda: at):
        return HANDLER(event, CONTEXT)


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_an_alarm_entering_alarm_aborts_the_rollout_and_tells_the_topic(world) -> None:
    _canary(world["ssm"])
    result = _run(alarm_event(), STARTED + timedelta(minutes=20))
    assert result["action"] == "aborted"
    after = read_active_model(world["ssm"], NAME)
    assert after.rollout is None and after.model_id == DEPLOYMENT_ARN
    assert after.change is not None and after.change.by == f"alarm:{ALARMS[0]}"
    assert after.change.action == "rollout_abort" and "2 out of the last 3 datapoints" in after.change.reason
    (message,) = _messages(world)
    assert message["Subject"] == f"Rollout aborted: {ALARMS[0]}"
    assert CANDIDATE in message["Message"] and "canary" in message["Message"]

    # Idempotent: the same event again (CloudWatch or EventBridge repeating it) writes nothing; it tells the
    # topic again (at least once: a retry after a failed publish must not lose the only notice).
    again = _run(alarm_event(), STARTED + timedelta(minutes=21))
    assert again["action"] == "none" and "already aborted" in again["reason"]
    assert len(parameter_history(world["ssm"], NAME)) == 3  # promote, rollout, abort
    (repeated,) = _messages(world)
    assert repeated["Subject"] == message["Subject"] and CANDIDATE in repeated["Message"]
    # A later, distinct ALARM transition with no rollout running changes and tells nothing.
    later = alarm_event()
    later["detail"]["state"]["timestamp"] = "2026-12-01T13:00:00.000+0000"
    assert "no rollout" in _run(later, STARTED + timedelta(hours=1))["reason"]
    assert _messages(world) == []


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
@pytest.mark.parametrize(
    ("name", "state"), [(ALARMS[1], "OK"), ("vsr-dev-router-5xx", "ALARM")], ids=["back-to-ok", "other-alarm"]
)
def test_other_alarm_changes_leave_the_rollout_running(world, name, state) -> None:
    _canary(world["ssm"])
    assert _run(alarm_event(name, state), STARTED)["action"] == "none"
    assert read_active_model(world["ssm"], NAME).rollout is not None


def _put_candidate_requests(cloudwatch, count: int, at: datetime) -> None:
    cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[{
        "MetricName": "CandidateRequests", "Dimensions": [{"Name": "service", "Value": SERVICE}],
        "Timestamp": at, "Value": count, "Unit": "Count",
    }])  # fmt: skip


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_the_schedule_finishes_a_rollout_once_its_queries_are_reached_and_no_alarm_fires(world) -> None:
    _canary(world["ssm"], queries=1000)
    now = STARTED + timedelta(hours=2)
    _put_candidate_requests(world["cloudwatch"], 400, STARTED + timedelta(minutes=30))
    _put_candidate_requests(world["cloudwatch"], 500, STARTED - timedelta(minutes=30))  # before it started
    waiting = _run(schedule_event(), now)
    assert waiting == {"action": "none", "reason": "auto_finish_after not reached yet",
                       "candidate_requests": 400.0, "hours": 2.0}  # fmt: skip

    _put_candidate_requests(world["cloudwatch"], 700, STARTED + timedelta(minutes=90))
    finished = _run(schedule_event(), now)
    assert finished["action"] == "finished" and finished["candidate_requests"] == 1100.0
    after = read_active_model(world["ssm"], NAME)
    assert (after.model_id, after.run_id, after.rollout) == (CANDIDATE, "run-2", None)
    assert after.previous is not None and after.previous["model_id"] == DEPLOYMENT_ARN
    assert after.change is not None and after.change.by == "schedule:vsr-dev-rollout-schedule"
    assert "1100 candidate queries" in (after.change.reason or "")
    (message,) = _messages(world)
    assert message["Subject"] == f"Rollout finished: {CANDIDATE}"[:100]

    assert _run(schedule_event(), now)["reason"] == "no rollout is running"  # idempotent


def _alarm_in_alarm(cloudwatch, name: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name, MetricName="CandidateLatency", Namespace=NAMESPACE, Statistic="Average",
        Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_an_alarm_already_in_alarm_holds_the_finish_then_aborts_once_its_window_is_the_rollouts(
    world,
) -> None:
    """A rollout started while an alarm is in ALARM gets no state-change event: the schedule acts on it."""
    _canary(world["ssm"], queries=100)
    _put_candidate_requests(world["cloudwatch"], 200, STARTED + timedelta(minutes=5))
    _alarm_in_alarm(world["cloudwatch"], ALARMS[1])
    window = RolloutControlEnv.from_environ(os.environ).alarm_window_seconds
    # Within the window the alarm's datapoints may be the previous rollout's: no finish, no abort.
    held = _run(schedule_event(), STARTED + timedelta(seconds=window - 60))
    assert held["action"] == "none" and held["reason"] == f"waiting: {ALARMS[1]} in ALARM"
    assert read_active_model(world["ssm"], NAME).rollout is not None
    # Past it, every datapoint is this rollout's: its ALARM aborts the rollout, recorded as the alarm's.
    aborted = _run(schedule_event(), STARTED + timedelta(seconds=window + 60))
    assert aborted["action"] == "aborted"
    after = read_active_model(world["ssm"], NAME)
    assert after.rollout is None and after.model_id == DEPLOYMENT_ARN
    assert after.change is not None and after.change.by == f"alarm:{ALARMS[1]}"
    assert "still in ALARM" in (after.change.reason or "")
    (message,) = _messages(world)
    assert message["Subject"] == f"Rollout aborted: {ALARMS[1]}"


def test_the_alarm_window_is_the_evaluation_periods_plus_the_routers_cache_age() -> None:
    from cdk_app.config import load_config
    from stacks.constructs.function_environment import rollout_control_environment

    config = load_config({"rollout": {"evaluation_periods": 4}, "active_model_max_age_seconds": 90})
    env = rollout_control_environment(config, topic_arn="arn:topic")
    assert RolloutControlEnv.from_environ(env).alarm_window_seconds == 4 * 300 + 90


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_the_schedule_finishes_after_its_hours_and_never_without_auto_finish(world) -> None:
    _canary(world["ssm"], queries=None, hours=24)
    assert _run(schedule_event(), STARTED + timedelta(hours=23))["action"] == "none"
    assert _run(schedule_event(), STARTED + timedelta(hours=24, minutes=5))["action"] == "finished"

    start_rollout(world["ssm"], NAME, model_id=DEPLOYMENT_ARN.replace("abcdef", "fedcba"), run_id="run-3",
                  mode="shadow", percent=20, by="cli:arn:aws:iam::123456789012:user/ops", now=STARTED)  # fmt: skip
    result = _run(schedule_event(), STARTED + timedelta(days=30))
    assert result["action"] == "none" and "finished by hand" in result["reason"]


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
@pytest.mark.parametrize(
    "event",
    [{}, {"detail-type": "Scheduled Event", "source": "aws.events", "resources": []},
     {"detail-type": "Parameter Store Change", "source": "aws.ssm", "detail": {}}, "text"],
    ids=["empty", "no-rule", "other-event", "not-a-dict"],
)  # fmt: skip
def test_a_malformed_event_is_ignored_with_a_log_line(world, event) -> None:
    _canary(world["ssm"])
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        result = _run(event, STARTED)
    finally:
        logger.registered_handler.setStream(previous)
    assert result["action"] == "ignored"
    assert any(
        json.loads(line)["message"].startswith("Event ignored") for line in stream.getvalue().splitlines()
    )
    assert read_active_model(world["ssm"], NAME).rollout is not None


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_an_aws_failure_is_a_named_error(world, monkeypatch) -> None:
    _canary(world["ssm"])
    monkeypatch.setenv("ROLLOUT_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:missing")
    with pytest.raises(RolloutControlFailed, match="could not publish to the topic"):
        _run(alarm_event(), STARTED)


def test_rollout_changes_are_idempotent_and_recorded(world) -> None:
    ssm = world["ssm"]
    with pytest.raises(NoRollout):
        set_rollout_percent(ssm, NAME, 50, by="cli:x")
    with pytest.raises(NoRollout):
        finish_rollout(ssm, NAME, by="cli:x")
    assert abort_rollout(ssm, NAME, by="cli:x").changed is False
    with pytest.raises(RolloutRefused, match="already the active model"):
        start_rollout(
            ssm, NAME, model_id=DEPLOYMENT_ARN, run_id="run-1", mode="canary", percent=5, by="cli:x"
        )
    _canary(ssm)
    again = start_rollout(
        ssm, NAME, model_id=CANDIDATE, run_id="run-2", mode="canary", percent=10, by="run:run-2"
    )
    assert again.changed is False
    assert set_rollout_percent(ssm, NAME, 50, by="cli:x").changed is True
    assert set_rollout_percent(ssm, NAME, 50, by="cli:x").changed is False
    with pytest.raises(RolloutRefused):
        set_rollout_percent(ssm, NAME, 150, by="cli:x")
    history = parameter_history(ssm, NAME)
    assert [entry.value.change.action for entry in history if entry.value.change] == [
        "rollout_canary",
        "rollout_percent",
    ]
    assert history[-1].value.change.reason == "10 % -> 50 %"


@pytest.mark.parametrize(
    ("days", "period"), [(0.001, 60), (1, 60), (2, 120), (16, 1200), (70, 7200)], ids=str
)
def test_the_statistics_period_fits_cloudwatchs_limits(days, period) -> None:
    end = STARTED + timedelta(days=days)
    assert statistics_period(STARTED, end) == period
    assert (end - STARTED).total_seconds() / period <= 1440


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_a_hand_written_rollout_without_a_date_is_no_rollout_for_the_schedule(world) -> None:
    """A started_at that is no ISO 8601 date reads as no rollout (as the router reads it), not a crash."""
    value = json.loads(world["ssm"].get_parameter(Name=NAME)["Parameter"]["Value"])
    value["rollout"] = {"model_id": CANDIDATE, "run_id": "run-2", "mode": "canary", "percent": 10,
                        "started_at": "this morning", "auto_finish_after": {"queries": 10, "hours": 1}}  # fmt: skip
    world["ssm"].put_parameter(Name=NAME, Value=json.dumps(value), Type="String", Overwrite=True)
    result = _run(schedule_event(), STARTED + timedelta(hours=2))
    assert result == {"action": "none", "reason": "no rollout is running"}


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_the_schedule_never_finishes_a_rollout_it_did_not_check(world, monkeypatch) -> None:
    """Between the schedule's read and its write an operator replaced the rollout (or an alarm aborted it):
    the new one is not promoted unwatched, and a vanished one is no crash."""
    from routing.evaluation import rollout_control

    _canary(world["ssm"], queries=None, hours=1)
    other = DEPLOYMENT_ARN.replace("abcdef123456", "other2222222")
    checked = rollout_control.alarms_in_alarm

    def meanwhile(cloudwatch, names):
        abort_rollout(world["ssm"], NAME, by="cli:x", reason="replaced")
        start_rollout(world["ssm"], NAME, model_id=other, run_id="run-3", mode="canary", percent=5, by="cli:x",
                      now=STARTED + timedelta(hours=2))  # fmt: skip
        return checked(cloudwatch, names)

    monkeypatch.setattr(rollout_control, "alarms_in_alarm", meanwhile)
    result = _run(schedule_event(), STARTED + timedelta(hours=2))
    assert result["action"] == "none"
    after = read_active_model(world["ssm"], NAME)
    assert after.model_id == DEPLOYMENT_ARN and after.rollout is not None and after.rollout.model_id == other
    assert _messages(world) == []

    _canary(world["ssm"], queries=None, hours=1)

    def aborted(cloudwatch, names):
        abort_rollout(world["ssm"], NAME, by="alarm:x", reason="alarm")
        return checked(cloudwatch, names)

    monkeypatch.setattr(rollout_control, "alarms_in_alarm", aborted)
    result = _run(schedule_event(), STARTED + timedelta(hours=2))
    assert result["action"] == "none"
    assert read_active_model(world["ssm"], NAME).model_id == DEPLOYMENT_ARN


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_a_failed_notice_is_sent_when_the_alarm_event_is_retried(world, monkeypatch) -> None:
    """The abort is written, the publish fails, the invocation fails; its retry finds no rollout running
    and must still tell the topic (an automatic rollback nobody hears of is the failure to avoid)."""
    _canary(world["ssm"])
    topic = RolloutControlEnv.from_environ(os.environ).topic_arn
    monkeypatch.setenv("ROLLOUT_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:missing")
    with pytest.raises(RolloutControlFailed, match="could not publish"):
        _run(alarm_event(), STARTED + timedelta(minutes=20))
    assert read_active_model(world["ssm"], NAME).rollout is None  # the abort itself was written
    monkeypatch.setenv("ROLLOUT_TOPIC_ARN", topic)
    retried = _run(alarm_event(), STARTED + timedelta(minutes=21))
    assert retried["action"] == "none"
    (message,) = _messages(world)
    assert message["Subject"] == f"Rollout aborted: {ALARMS[0]}"
    assert CANDIDATE in message["Message"] and "2 out of the last 3 datapoints" in message["Message"]


def test_a_promotion_that_ends_a_rollout_records_who_ended_it(world) -> None:
    """A direct promotion (the pipeline with on_pass promote, `vsr promote RUN`) over a running rollout
    ends it: that change of the rollout is recorded like the others (issue: every change says who)."""
    _canary(world["ssm"])
    other = DEPLOYMENT_ARN.replace("abcdef123456", "third3333333")
    promote_run(world["ssm"], NAME, other, "run-3", by="run:run-3")
    after = read_active_model(world["ssm"], NAME)
    assert (after.model_id, after.rollout) == (other, None)
    assert after.change is not None and (after.change.by, after.change.action) == ("run:run-3", "promote")
    assert CANDIDATE in (after.change.reason or "") and "canary" in (after.change.reason or "")
    # Without a rollout to end, a promotion still writes no change record (as before).
    promote_run(world["ssm"], NAME, DEPLOYMENT_ARN, "run-4", by="run:run-4")
    assert read_active_model(world["ssm"], NAME).change is None


def test_an_sns_subject_is_ascii_without_control_characters_and_under_100_characters() -> None:
    from routing.observability import sns_subject

    subject = sns_subject("Rollout aborted: model\nwith\ttabs é " + "x" * 200)
    assert len(subject) == 99 and subject.isascii()
    assert not any(ord(char) < 32 for char in subject)
    assert subject.startswith("Rollout aborted: model with tabs ? ")


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
def test_a_late_alarm_event_of_an_earlier_rollout_does_not_abort_the_one_running_now(world) -> None:
    entered = datetime(2026, 12, 1, 12, 20, tzinfo=UTC)  # alarm_event()'s state timestamp
    start_rollout(world["ssm"], NAME, model_id=CANDIDATE, run_id="run-2", mode="canary", percent=10,
                  by="run:run-2", now=entered + timedelta(minutes=10))  # fmt: skip
    result = _run(alarm_event(), entered + timedelta(minutes=11))
    assert result["action"] == "none" and "before this rollout started" in result["reason"]
    assert read_active_model(world["ssm"], NAME).rollout is not None
    assert _messages(world) == []
