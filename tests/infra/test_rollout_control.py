"""The rollout alarms, the controller's rule, schedule, environment and grants (router API stack)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from routing.settings import RolloutControlEnv

from stacks.constructs.rollout_control import ROLLOUT_METRICS


@pytest.fixture(scope="module")
def resources(synthesized) -> dict[str, dict[str, Any]]:
    return synthesized.templates["router_api"].to_json()["Resources"]


@pytest.fixture(scope="module")
def config(synthesized):
    return synthesized.config


def of_type(resources: dict, kind: str) -> dict[str, dict]:
    return {name: res for name, res in resources.items() if res["Type"] == kind}


def controller(resources: dict) -> tuple[str, dict]:
    ((name, function),) = [
        (name, res) for name, res in of_type(resources, "AWS::Lambda::Function").items()
        if res["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME", "").endswith("-rollout_control")
    ]  # fmt: skip
    return name, function


def _rollout_alarms(resources: dict, config) -> dict[str, dict]:
    alarms = {
        res["Properties"]["AlarmName"]: res["Properties"]
        for res in of_type(resources, "AWS::CloudWatch::Alarm").values()
    }
    return {key: alarms[name] for key, name in config.rollout_alarm_names.items()}


def _metrics(alarm: dict) -> dict[str, tuple[str, str]]:
    """Query id -> (metric name, statistic) of an alarm's metric math."""
    return {
        query["Id"]: (query["MetricStat"]["Metric"]["MetricName"], query["MetricStat"]["Stat"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }


def _expression(alarm: dict) -> str:
    (expression,) = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    return expression


def test_the_rollout_alarms_compute_the_rates_with_the_configured_thresholds(resources, config) -> None:
    alarms = _rollout_alarms(resources, config)
    least = config.rollout.min_candidate_requests
    fallback, parse = alarms["candidate-fallback-rate"], alarms["candidate-parse-failures"]
    latency, shadow = alarms["candidate-latency"], alarms["shadow-disagreement"]
    for alarm, part, total in (
        (fallback, "CandidateFallbacks", "CandidateRequests"),
        (parse, "CandidateParseFailures", "CandidateRequests"),
        (shadow, "ShadowDisagreements", "ShadowComparisons"),
    ):
        p, t = part.lower(), total.lower()
        assert _metrics(alarm) == {t: (total, "Sum"), p: (part, "Sum")}
        assert _expression(alarm) == f"IF({t} >= {least}, 100 * FILL({p}, 0) / {t})"
    assert _metrics(latency) == {
        "candidaterequests": ("CandidateRequests", "Sum"),
        "candidate": ("CandidateLatency", "p95"),
        "active": ("ActiveLatency", "p95"),
    }
    assert _expression(latency) == f"IF(candidaterequests >= {least} AND active > 0, candidate / active)"
    assert [fallback["Threshold"], parse["Threshold"], latency["Threshold"], shadow["Threshold"]] == [
        config.rollout.max_candidate_fallback_percent,
        config.rollout.max_candidate_parse_failure_percent,
        config.rollout.max_latency_ratio,
        config.rollout.max_shadow_disagreement_percent,
    ]
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
            config.rollout.evaluation_periods,
            config.rollout.datapoints_to_alarm,
        )
        for query in alarm["Metrics"]:
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                assert metric["Namespace"] == config.router_metrics_namespace
                assert metric["Dimensions"] == [{"Name": "service", "Value": config.router_metrics_service}]
                assert metric["MetricName"] in ROLLOUT_METRICS


def test_thresholds_come_from_the_configuration(tmp_path) -> None:
    from tests.infra.conftest import synthesize

    app = synthesize(tmp_path, rollout={"max_latency_ratio": 2.5, "min_candidate_requests": 50})
    alarms = _rollout_alarms(app.templates["router_api"].to_json()["Resources"], app.config)
    assert alarms["candidate-latency"]["Threshold"] == 2.5
    assert "candidaterequests >= 50" in _expression(alarms["candidate-fallback-rate"])


def test_the_rule_matches_exactly_the_rollout_alarms_entering_alarm(resources, config) -> None:
    name, _function = controller(resources)
    rules = [
        res["Properties"] for res in of_type(resources, "AWS::Events::Rule").values()
        if "EventPattern" in res["Properties"]
        and res["Properties"]["EventPattern"].get("source") == ["aws.cloudwatch"]
    ]  # fmt: skip
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": list(config.rollout_alarm_names.values()), "state": {"value": ["ALARM"]}},
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [name, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_the_schedule_runs_the_controller_every_five_minutes(resources, config) -> None:
    name, _function = controller(resources)
    (schedule,) = [
        res["Properties"] for res in of_type(resources, "AWS::Events::Rule").values()
        if "ScheduleExpression" in res["Properties"]
    ]  # fmt: skip
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["Name"] == f"{config.prefix}-rollout-schedule"
    assert [target["Arn"] for target in schedule["Targets"]] == [{"Fn::GetAtt": [name, "Arn"]}]
    permissions = [
        res["Properties"] for res in of_type(resources, "AWS::Lambda::Permission").values()
        if res["Properties"]["FunctionName"] == {"Fn::GetAtt": [name, "Arn"]}
    ]  # fmt: skip
    assert {p["Principal"] for p in permissions} == {"events.amazonaws.com"} and len(permissions) == 2


def test_the_controller_reads_its_settings_from_its_environment(resources, config, synthesized) -> None:
    _name, function = controller(resources)
    variables = function["Properties"]["Environment"]["Variables"]
    topic = next(iter(of_type(resources, "AWS::SNS::Topic")))
    assert variables["ROLLOUT_TOPIC_ARN"] == {"Ref": topic}
    settings = RolloutControlEnv.from_environ({**variables, "ROLLOUT_TOPIC_ARN": "arn:aws:sns:r:1:t"})
    assert settings.parameter_name == config.active_model_parameter_name
    assert settings.alarm_names == tuple(config.rollout_alarm_names.values())
    assert (settings.metrics_namespace, settings.metrics_service) == (
        config.router_metrics_namespace,
        config.router_metrics_service,
    )


def test_the_controller_is_granted_exactly_its_calls(resources, config) -> None:
    _name, function = controller(resources)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for res in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in res["Properties"]["Roles"]
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert actions == {
        "ssm:GetParameter", "ssm:PutParameter", "cloudwatch:DescribeAlarms", "cloudwatch:GetMetricStatistics",
        "sns:Publish", "kms:Decrypt", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents",
        "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    }  # fmt: skip
    by_sid = {statement.get("Sid"): statement for statement in statements}
    assert by_sid["ReadRouterMetrics"]["Resource"] == "*"
    text = json.dumps(by_sid["ReadRolloutAlarms"]["Resource"])
    for alarm in config.rollout_alarm_names.values():
        assert f":alarm:{alarm}" in text


def test_the_dashboard_has_a_rollout_section(resources) -> None:
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "## Rollout" in body and "Rollout alarms" in body
    for name in ("CandidateRequests", "CandidateLatency", "ActiveLatency", "ShadowDisagreements"):
        assert name in body
