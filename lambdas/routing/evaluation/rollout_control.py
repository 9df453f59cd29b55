"""The rollout controller's logic: abort on a rollout alarm, finish when `auto_finish_after` is reached.

Two EventBridge events reach the controller (lambdas/rollout_control/handler.py):

- "CloudWatch Alarm State Change" of a rollout alarm entering ALARM (the rule matches only those):
  the rollout is aborted (`change.by` "alarm:<alarm name>", the reason the alarm's name and
  CloudWatch's reason), the parameter written, the topic told. An alarm with no rollout running
  changes nothing (an operator may have aborted first; CloudWatch repeats events); when the value is
  the abort this same event wrote (a retry after a failed publish), the topic is told again: the
  notice is sent at least once.
- "Scheduled Event" of the controller's schedule (every 5 minutes): a rollout alarm in ALARM once the
  rollout has run longer than the alarms' window (`alarm_window_seconds`: their evaluation periods
  plus the router's cache age, so every datapoint is this rollout's) aborts it like the alarm's own
  event would (an alarm already in ALARM when a rollout starts sends no new state change); when a rollout with
  `auto_finish_after` runs, its candidate was asked at least `queries` times since `started_at`
  (the Sum of `CandidateRequests`) or `hours` have passed, and no rollout alarm is in ALARM
  (DescribeAlarms), the candidate is promoted (`change.by` "schedule:<rule name>", the active model
  kept as `previous`) and the topic told; a rollout replaced or ended between the read and the write
  is left alone.

Event shapes: CloudWatch's documented alarm event ("Alarm events and EventBridge": `detail.alarmName`,
`detail.state.value`, `detail.state.reason`) and EventBridge's scheduled event (`resources`: the rule
ARN). Anything else is `InvalidEvent` (the handler logs it and ignores it). Every AWS failure is
`RolloutControlFailed` naming the call and AWS's reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, RootModel

from ..active_model import ACTOR_ALARM, ACTOR_SCHEDULE, ActiveModel, Rollout
from ..errors import NoRollout, RolloutControlFailed
from ..observability import sns_subject
from .promotion import read_active_model
from .rollout import RolloutChange, abort_rollout, finish_rollout

if TYPE_CHECKING:
    from ..settings import RolloutControlEnv

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED_EVENT = "Scheduled Event"


class _Event(BaseModel):
    # EventBridge events carry more keys than the controller reads (version, id, account, region, ...).
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AlarmState(_Event):
    value: str
    reason: str | None = None
    timestamp: str | None = None


class AlarmDetail(_Event):
    alarm_name: Annotated[str, Field(alias="alarmName", min_length=1)]
    state: AlarmState


class AlarmStateChange(_Event):
    detail_type: Annotated[Literal["CloudWatch Alarm State Change"], Field(alias="detail-type")]
    source: Literal["aws.cloudwatch"]
    time: str | None = None
    detail: AlarmDetail


class ScheduledEvent(_Event):
    detail_type: Annotated[Literal["Scheduled Event"], Field(alias="detail-type")]
    source: Literal["aws.events"]
    time: str | None = None
    resources: Annotated[list[str], Field(min_length=1)]

    @property
    def rule_name(self) -> str:
        """The rule's name from its ARN (arn:...:rule/<name>, or rule/<bus>/<name> on a custom bus)."""
        return self.resources[0].rsplit("/", 1)[-1]


class RolloutControlEvent(
    RootModel[Annotated[AlarmStateChange | ScheduledEvent, Field(discriminator="detail_type")]]
):
    """What the controller's rules deliver: an alarm state change or the schedule's tick."""


@dataclass(frozen=True)
class ControlResult:
    """What the controller did (`action`: "aborted", "finished" or "none") and why."""

    action: str
    reason: str
    change: RolloutChange | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        value: dict[str, Any] = {"action": self.action, "reason": self.reason, **self.figures}
        if self.change is not None:
            value["rollout"] = self.change.summary()
        return value


def handle(
    event: RolloutControlEvent,
    *,
    settings: RolloutControlEnv,
    ssm: Any,
    sns: Any,
    cloudwatch: Any,
    now: datetime | None = None,
) -> ControlResult:
    """Dispatch one event to `on_alarm` or `on_schedule`."""
    inner = event.root
    if isinstance(inner, AlarmStateChange):
        return on_alarm(inner, settings=settings, ssm=ssm, sns=sns, now=now)
    return on_schedule(inner, settings=settings, ssm=ssm, sns=sns, cloudwatch=cloudwatch, now=now)


def on_alarm(
    event: AlarmStateChange, *, settings: RolloutControlEnv, ssm: Any, sns: Any, now: datetime | None = None
) -> ControlResult:
    """Abort the rollout when one of the rollout alarms entered ALARM."""
    name, state = event.detail.alarm_name, event.detail.state
    if name not in settings.alarm_names:
        return ControlResult("none", f"{name} is not a rollout alarm")
    if state.value != "ALARM":
        return ControlResult("none", f"{name} is {state.value}, not ALARM")
    reason = f"alarm {name}: {state.reason or 'in ALARM'}"
    current = _aws("read the active model", lambda: read_active_model(ssm, settings.parameter_name))
    entered = _entered(event)
    if current.rollout is not None and entered is not None and entered < started_at(current.rollout):
        # A late or repeated event of an earlier rollout: this one is judged by the schedule once the
        # alarm's window holds only its datapoints (`on_schedule`).
        return ControlResult(
            "none",
            f"{name} entered ALARM at {entered.isoformat()}, before this rollout started: not its alarm",
        )
    change = _aws("abort the rollout", lambda: abort_rollout(
        ssm, settings.parameter_name, by=f"{ACTOR_ALARM}:{name}", reason=reason, now=now,
        expected=current.rollout,
    ))  # fmt: skip
    if not change.changed:
        if _aborted_by(change.after, name, event):
            # This event already aborted the rollout and is delivered again: most likely a retry after the
            # publish below failed. Tell the topic (again): at least once, never lost.
            done = change.after.change
            assert done is not None
            _publish(sns, settings.topic_arn, f"Rollout aborted: {name}", (
                f"The rollout was aborted at {done.at}: {done.reason}.\n"
                f"The router serves {change.after.model_id or 'the configured default'} alone again within its "
                "cache age. (This notice is sent again: the alarm's event was delivered again.)\n"
                "History: vsr rollout --history."
            ))  # fmt: skip
            return ControlResult(
                "none", f"{name}: the rollout was already aborted by it; notice sent", change
            )
        return ControlResult("none", f"{name} is in ALARM but no rollout is running", change)
    rollout = change.before.rollout
    assert rollout is not None
    _publish(sns, settings.topic_arn, f"Rollout aborted: {name}", _abort_notice(rollout, reason, change))
    return ControlResult("aborted", reason, change)


def _abort_notice(rollout: Rollout, reason: str, change: RolloutChange) -> str:
    return (
        f"The {rollout.mode} rollout of {rollout.model_id} (run {rollout.run_id or '-'}, {rollout.percent:g} % "
        f"of queries, since {rollout.started_at}) was aborted: {reason}.\n"
        f"The router serves {change.after.model_id or 'the configured default'} alone again within its cache age.\n"
        "History: vsr rollout --history; start again: vsr promote <run> --shadow/--canary <percent>."
    )


def _abort_for_standing_alarm(
    event: ScheduledEvent,
    name: str,
    rollout: Rollout,
    running_s: float,
    settings: RolloutControlEnv,
    ssm: Any,
    sns: Any,
    now: datetime,
) -> ControlResult:
    """The schedule's abort: `name` is in ALARM although the rollout has run longer than the alarms' window."""
    reason = (
        f"alarm {name}: still in ALARM {running_s / 60:.0f} min after the rollout started, when every datapoint "
        "it evaluates is this rollout's (found by the schedule: the alarm was in ALARM before the rollout began)"
    )
    change = _aws("abort the rollout", lambda: abort_rollout(
        ssm, settings.parameter_name, by=f"{ACTOR_ALARM}:{name}", reason=reason, now=now, expected=rollout
    ))  # fmt: skip
    if not change.changed:
        return ControlResult("none", "the rollout changed while it was checked", change)
    _publish(sns, settings.topic_arn, f"Rollout aborted: {name}", _abort_notice(rollout, reason, change))
    return ControlResult("aborted", reason, change)


def _entered(event: AlarmStateChange) -> datetime | None:
    """When the alarm entered the event's state (its state timestamp, else the event's time), aware."""
    try:
        entered = datetime.fromisoformat(event.detail.state.timestamp or event.time or "")
    except ValueError:
        return None
    return entered if entered.tzinfo else entered.replace(tzinfo=UTC)


def _aborted_by(value: ActiveModel, name: str, event: AlarmStateChange) -> bool:
    """True when `value` is the abort this alarm's ALARM transition (the event) wrote: by it, at or after it."""
    change = value.change
    if change is None or change.by != f"{ACTOR_ALARM}:{name}" or change.action != "rollout_abort":
        return False
    entered = _entered(event)
    try:
        written = datetime.fromisoformat(change.at)
    except ValueError:
        return False
    if entered is None:
        return False
    written = written if written.tzinfo else written.replace(tzinfo=UTC)
    # change.at has whole seconds: compare at that precision.
    return written >= entered.replace(microsecond=0)


def on_schedule(
    event: ScheduledEvent,
    *,
    settings: RolloutControlEnv,
    ssm: Any,
    sns: Any,
    cloudwatch: Any,
    now: datetime | None = None,
) -> ControlResult:
    """Finish the rollout when its `auto_finish_after` is reached and no rollout alarm is in ALARM."""
    now = now or datetime.now(UTC)
    current = _aws("read the active model", lambda: read_active_model(ssm, settings.parameter_name))
    rollout = current.rollout
    if rollout is None:
        return ControlResult("none", "no rollout is running")
    started = started_at(rollout)
    running_s = (now - started).total_seconds()
    if running_s >= settings.alarm_window_seconds:
        # An alarm already in ALARM when the rollout started sends no new state change: once every
        # datapoint it evaluates is this rollout's, its ALARM is about this candidate, so it aborts.
        alarming = _aws(
            "describe the rollout alarms", lambda: alarms_in_alarm(cloudwatch, settings.alarm_names)
        )
        if alarming:
            return _abort_for_standing_alarm(event, alarming[0], rollout, running_s, settings, ssm, sns, now)
    if rollout.auto_finish_after is None:
        return ControlResult("none", "the rollout has no auto_finish_after: it is finished by hand")
    hours = max(0.0, (now - started).total_seconds() / 3600)
    wanted = rollout.auto_finish_after
    queries = None
    if wanted.queries is not None:
        queries = _aws("read CandidateRequests", lambda: metric_sum(
            cloudwatch, settings.metrics_namespace, settings.metrics_service, "CandidateRequests", started, now
        ))  # fmt: skip
    figures = {"candidate_requests": queries, "hours": round(hours, 3)}
    reached = []
    if wanted.queries is not None and queries is not None and queries >= wanted.queries:
        reached.append(f"{queries:g} candidate queries (>= {wanted.queries})")
    if wanted.hours is not None and hours >= wanted.hours:
        reached.append(f"{hours:.1f} h since {rollout.started_at} (>= {wanted.hours:g} h)")
    if not reached:
        return ControlResult("none", "auto_finish_after not reached yet", figures=figures)
    alarming = _aws("describe the rollout alarms", lambda: alarms_in_alarm(cloudwatch, settings.alarm_names))
    if alarming:
        return ControlResult("none", f"waiting: {', '.join(alarming)} in ALARM", figures=figures)
    reason = f"auto_finish_after reached: {'; '.join(reached)}; no rollout alarm in ALARM"
    try:
        change = _aws("finish the rollout", lambda: finish_rollout(
            ssm, settings.parameter_name, by=f"{ACTOR_SCHEDULE}:{event.rule_name}", reason=reason, now=now,
            expected=rollout,
        ))  # fmt: skip
    except NoRollout:  # aborted (an alarm, an operator) since it was read: nothing to finish
        return ControlResult("none", "the rollout ended while it was checked", figures=figures)
    if not change.changed:  # replaced since it was read: the new rollout has its own auto_finish_after
        return ControlResult("none", "the rollout changed while it was checked", change, figures)
    subject = f"Rollout finished: {rollout.model_id}"
    message = (
        f"The {rollout.mode} rollout of {rollout.model_id} (run {rollout.run_id or '-'}) finished by itself: "
        f"{reason}.\nIt is now the active model; the model before it is kept for one-step rollback "
        "(vsr rollback). History: vsr rollout --history."
    )
    _publish(sns, settings.topic_arn, subject, message)
    return ControlResult("finished", reason, change, figures)


# ----------------------------------------------------------------------------- CloudWatch and SNS calls


def started_at(rollout: Rollout) -> datetime:
    """The rollout's start as an aware datetime (a naive stamp is UTC)."""
    value = datetime.fromisoformat(rollout.started_at)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def statistics_period(start: datetime, end: datetime, now: datetime | None = None) -> int:
    """The shortest period (s) GetMetricStatistics accepts for [start, end] in at most 1,440 data points.

    GetMetricStatistics (CloudWatch API reference): "The maximum number of data points returned from a
    single call is 1,440"; and for StartTime "more than 15 days ago, you must specify the period as
    a multiple of 300 seconds (5 minutes)" and "more than 63 days ago, ... a multiple of 3600 seconds".
    """
    seconds = max(60.0, (end - start).total_seconds())
    age = ((now or end) - start).total_seconds()
    unit = 3600 if age > 63 * 86400 else 300 if age > 15 * 86400 else 60
    return max(unit, math.ceil(seconds / 1440 / unit) * unit)


def metric_sum(
    cloudwatch: Any, namespace: str, service: str, name: str, start: datetime, end: datetime
) -> float:
    """The Sum of one router metric (dimension `service`) from `start` to `end`."""
    response = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": "service", "Value": service}],
        StartTime=start,
        EndTime=end,
        Period=statistics_period(start, end),
        Statistics=["Sum"],
    )
    return float(sum(point.get("Sum", 0.0) for point in response.get("Datapoints", [])))


def alarms_in_alarm(cloudwatch: Any, names: tuple[str, ...] | list[str]) -> list[str]:
    """Which of the named alarms are in ALARM now (DescribeAlarms takes at most 100 names)."""
    if not names:
        return []
    response = cloudwatch.describe_alarms(AlarmNames=list(names)[:100], StateValue="ALARM")
    alarms = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
    # The state is checked here too: the filter is a request parameter, the state is the answer.
    return sorted(alarm["AlarmName"] for alarm in alarms if alarm.get("StateValue") == "ALARM")


def _publish(sns: Any, topic_arn: str, subject: str, message: str) -> None:
    subject = sns_subject(subject)
    _aws("publish to the topic", lambda: sns.publish(TopicArn=topic_arn, Subject=subject, Message=message))


def _aws(what: str, call: Any) -> Any:
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise RolloutControlFailed(
            f"could not {what}: {error.get('Code', 'error')}: {error.get('Message', str(exc))}"
        ) from None
    except BotoCoreError as exc:
        raise RolloutControlFailed(f"could not {what}: {exc}") from None
