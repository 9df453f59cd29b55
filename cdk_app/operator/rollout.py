"""The operator's rollout: start one from a run, change its share, finish or abort it, its live figures
and its history (`vsr promote --shadow/--canary`, `vsr rollout`; docs/rollout.md).

Changes go through routing.evaluation.rollout, the same code as the pipeline's Promote step and the
rollout controller, recorded as "cli:<caller ARN>" (STS GetCallerIdentity). The figures are the
router's metrics over the rollout's window (started_at to now) from CloudWatch GetMetricData, one
value per metric for the whole window; the alarm states from DescribeAlarms; the history is the
parameter's (GetParameterHistory). Each function takes its clients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from routing import errors as routing_errors
from routing.active_model import ACTOR_CLI, ActiveModel, AutoFinish
from routing.evaluation import rollout as rollout_logic
from routing.evaluation.promotion import read_active_model
from routing.evaluation.rollout import HistoryEntry, RolloutChange

from cdk_app.operator.errors import OperatorError, PromotionRefused

# (figure, metric, statistic) the status shows; the sums, the two p95 latencies and the mean weight difference.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("routed", "RoutedQueries", "Sum"),
    ("fallbacks", "Fallbacks", "Sum"),
    ("parse_failures", "ParseFailures", "Sum"),
    ("active_p95_ms", "ActiveLatency", "p95"),
    ("candidate_requests", "CandidateRequests", "Sum"),
    ("candidate_fallbacks", "CandidateFallbacks", "Sum"),
    ("candidate_parse_failures", "CandidateParseFailures", "Sum"),
    ("candidate_p95_ms", "CandidateLatency", "p95"),
    ("shadow_comparisons", "ShadowComparisons", "Sum"),
    ("shadow_disagreements", "ShadowDisagreements", "Sum"),
    ("shadow_weight_difference", "ShadowWeightDifference", "Average"),
)


class NoRollout(OperatorError):
    """A rollout change was asked for while no rollout runs."""


@dataclass(frozen=True)
class RolloutStatus:
    value: ActiveModel
    parameter: str
    start: datetime | None = None
    end: datetime | None = None
    figures: dict[str, float | None] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)

    def rate(self, part: str, total: str) -> float | None:
        """`part` over `total` in %, None without data."""
        numerator, denominator = self.figures.get(part), self.figures.get(total)
        if numerator is None or not denominator:
            return None
        return 100.0 * numerator / denominator


def caller(sts: Any) -> str:
    """`change.by` of an operator: "cli:<caller identity ARN>"."""
    return f"{ACTOR_CLI}:{sts.get_caller_identity()['Arn']}"


def start(
    ssm: Any,
    parameter: str,
    *,
    run_id: str,
    model_id: str,
    mode: str,
    percent: float,
    by: str,
    queries: int | None = None,
    hours: float | None = None,
) -> RolloutChange:
    """Start watching a run's deployment in `mode` for `percent` % of queries; PromotionRefused says why not."""
    finish = AutoFinish(queries=queries, hours=hours) if queries or hours else None
    try:
        return rollout_logic.start_rollout(
            ssm, parameter, model_id=model_id, run_id=run_id, mode=mode, percent=percent, by=by,
            auto_finish_after=finish, reason=f"vsr promote {run_id} --{mode} {percent:g}",
        )  # fmt: skip
    except routing_errors.RolloutRefused as exc:
        raise PromotionRefused(str(exc)) from None


def set_percent(ssm: Any, parameter: str, percent: float, *, by: str) -> RolloutChange:
    try:
        return rollout_logic.set_rollout_percent(ssm, parameter, percent, by=by)
    except routing_errors.NoRollout:
        raise NoRollout(_NO_ROLLOUT) from None
    except routing_errors.RolloutRefused as exc:
        raise OperatorError(str(exc)) from None


def finish(ssm: Any, parameter: str, *, by: str) -> RolloutChange:
    try:
        return rollout_logic.finish_rollout(ssm, parameter, by=by, reason="vsr rollout --finish")
    except routing_errors.NoRollout:
        raise NoRollout(_NO_ROLLOUT) from None


def abort(ssm: Any, parameter: str, *, by: str, reason: str | None = None) -> RolloutChange:
    """End the rollout; NoRollout (for the CLI, "no rollout") when none runs."""
    change = rollout_logic.abort_rollout(ssm, parameter, by=by, reason=reason or "vsr rollout --abort")
    if not change.changed:
        raise NoRollout(_NO_ROLLOUT)
    return change


_NO_ROLLOUT = "no rollout: start one with `vsr promote RUN --shadow PERCENT` or `--canary PERCENT`"


def history(ssm: Any, parameter: str) -> list[HistoryEntry]:
    return rollout_logic.parameter_history(ssm, parameter)


def whole_window_period(start: datetime, end: datetime) -> int:
    """One GetMetricData period covering [start, end]: whole minutes; multiples of 5 minutes for data older
    than 15 days, of an hour older than 63 days (CloudWatch's retention of 1-minute and 5-minute data)."""
    seconds = max(60.0, (end - start).total_seconds())
    age = (end - start).total_seconds()
    unit = 3600 if age > 63 * 86400 else 300 if age > 15 * 86400 else 60
    return math.ceil(seconds / unit) * unit


def status(
    ssm: Any,
    cloudwatch: Any,
    parameter: str,
    *,
    namespace: str,
    service: str,
    alarm_names: Mapping[str, str],
    now: datetime | None = None,
) -> RolloutStatus:
    """The parameter's value and, when a rollout runs, its figures since it started and the alarms' states."""
    value = read_active_model(ssm, parameter)
    alarms = alarm_states(cloudwatch, list(alarm_names.values()))
    if value.rollout is None:
        return RolloutStatus(value, parameter, alarms=alarms)
    end = now or datetime.now(UTC)
    begun = datetime.fromisoformat(value.rollout.started_at)
    begun = begun if begun.tzinfo else begun.replace(tzinfo=UTC)
    # started_at has whole seconds: a rollout started this second must still give GetMetricData a window
    # (StartTime must be before EndTime).
    end = max(end, begun + timedelta(minutes=1))
    figures = window_figures(cloudwatch, namespace, service, begun, end)
    return RolloutStatus(value, parameter, begun, end, figures, alarms)


def window_figures(
    cloudwatch: Any, namespace: str, service: str, start: datetime, end: datetime
) -> dict[str, float | None]:
    """Each of FIGURES over the whole window (None: no data)."""
    period = whole_window_period(start, end)
    queries = [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "service", "Value": service}],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for index, (_figure, metric, stat) in enumerate(FIGURES)
    ]
    values: dict[str, list[float]] = {}
    token: str | None = None
    while True:
        request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        if token:
            request["NextToken"] = token
        response = cloudwatch.get_metric_data(**request)
        for result in response.get("MetricDataResults", []):
            found = [v for v in result.get("Values", []) if isinstance(v, int | float) and math.isfinite(v)]
            values.setdefault(result["Id"], []).extend(found)
        token = response.get("NextToken")
        if not token:
            break
    figures: dict[str, float | None] = {}
    for index, (figure, _metric, stat) in enumerate(FIGURES):
        found = values.get(f"m{index}") or []
        if not found:
            figures[figure] = 0.0 if stat == "Sum" else None
        elif stat == "Sum":
            figures[figure] = float(sum(found))
        else:  # one period covers the window: one value (the first, should the window straddle two)
            figures[figure] = float(found[0])
    return figures


def alarm_states(cloudwatch: Any, names: list[str]) -> dict[str, str]:
    """Alarm name -> its state (OK, ALARM, INSUFFICIENT_DATA), "missing" when not deployed."""
    if not names:
        return {}
    found = cloudwatch.describe_alarms(AlarmNames=names[:100]).get("MetricAlarms", [])
    states = {alarm["AlarmName"]: alarm.get("StateValue", "-") for alarm in found}
    return {name: states.get(name, "missing") for name in names}
