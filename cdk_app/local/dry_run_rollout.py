"""The dry run's rollout stage (`--rollout canary|shadow`): the rollout flow end to end, offline.

What runs is the product's code; what is simulated is said on every line (each starts with
"OFFLINE STAND-IN", nothing is a model result):

1. Before the run the sandbox's (moto) active-model parameter names the configured default model
   (`router_default_model_id`): a stand-in for "the deployment serving before this run", so the
   candidate has something to be rolled out against. The run's configuration has
   `promotion.on_pass` = the mode, so the REAL Promote step starts the rollout (`change.by run:<id>`).
2. Live traffic, offline: distinct synthetic queries (the stand-in's vocabulary, seeded) go through
   the REAL router (`router_api.service.Router`) in 5-minute periods of simulated time; Bedrock is
   the offline stand-in's bedrock-runtime client, the parameter is read from moto SSM through
   Powertools with max age 0 (the deployed router re-reads it after `active_model_max_age_seconds`).
   A period's figures are counted from the router's own RouteResults and CandidateResults, as its
   telemetry (`router_api.telemetry._record_candidate`) counts the rollout metrics.
3. After a healthy period the stand-in is scripted (`account.script.converse_errors`) so that the
   candidate's Converse calls raise ModelErrorException. Each period's rates are the alarms' metric
   math (`stacks/constructs/rollout_control.py`: `IF(total >= min_candidate_requests, 100 * part /
   total)`, missing data not breaching, `datapoints_to_alarm` of `evaluation_periods`); when one
   breaches, that alarm (its real name, `config.rollout_alarm_names`) is put into ALARM in moto
   CloudWatch and CloudWatch's "CloudWatch Alarm State Change" event is given to the REAL rollout
   controller handler (lambdas/rollout_control/handler.py), which aborts the rollout and publishes to
   the (moto) router alarm topic. The latency alarm (p95 over p95) is not simulated.
4. The parameter's history (GetParameterHistory in moto: who, what, when, why).

Deterministic: the queries, the stand-in's answers and the canary's hash depend on the seed and the
run id only; times are printed relative to the rollout's start (`t+5 min`), the shadow waits for the
candidate's answer (on the stand-in nothing takes real time, so nothing is "late"), and model
latencies are the stand-in's simulated clock.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import boto3
from router_api.bedrock import ClientPool
from router_api.cache import DecisionCache
from router_api.model_selection import ActiveModelSource, powertools_reader
from router_api.rollout import ShadowRunner
from router_api.service import HEURISTIC_MODEL, Deadline, ModelInvoker, Router, RouteResult
from routing import clients as lambda_clients
from routing.active_model import ACTOR_CLI, NO_ACTIVE_MODEL, ActiveModel, promoted
from routing.evaluation.promotion import read_active_model, write_active_model
from routing.evaluation.rollout import HistoryEntry, parameter_history
from routing.evaluation.rollout_control import started_at

from cdk_app.config import AppConfig
from cdk_app.local.answers import live_queries
from cdk_app.local.pipeline import LocalLambdaContext, LocalPipeline, load_step_handlers
from stacks.constructs.function_environment import rollout_control_environment, router_settings

__all__ = ["MODES", "AlarmRule", "RolloutOutcome", "RolloutStage", "alarm_rules", "queries_per_period"]

MODES = ("canary", "shadow")
PERIOD = timedelta(minutes=5)  # the alarms' period (stacks/constructs/rollout_control.py PERIOD)
FAILING_ERROR = "ModelErrorException"
# Who wrote the value standing in for the previous deployment (an operator's promotion, offline).
PREVIOUS_BY = f"{ACTOR_CLI}:offline-stand-in-dry-run"
MAX_QUERIES_PER_PERIOD = 3_000


@dataclass(frozen=True)
class AlarmRule:
    """One rollout alarm whose metric math the stage computes: `100 * part / total` above `threshold`."""

    key: str  # its key in config.rollout_alarm_names
    part: str
    total: str
    threshold: float
    label: str

    def rate(self, counts: Counter[str], least: int) -> float | None:
        """The alarm's metric math: `IF(total >= least, 100 * FILL(part, 0) / total)`; None is missing data."""
        total = counts[self.total]
        return None if total < least else 100.0 * counts[self.part] / total


def alarm_rules(config: AppConfig) -> tuple[AlarmRule, ...]:
    """The count-based rollout alarms of stacks/constructs/rollout_control.py, with the configured thresholds."""
    limits = config.rollout
    return (
        AlarmRule("candidate-fallback-rate", "CandidateFallbacks", "CandidateRequests",
                  limits.max_candidate_fallback_percent, "candidate fallback rate"),
        AlarmRule("candidate-parse-failures", "CandidateParseFailures", "CandidateRequests",
                  limits.max_candidate_parse_failure_percent, "parse failures"),
        AlarmRule("shadow-disagreement", "ShadowDisagreements", "ShadowComparisons",
                  limits.max_shadow_disagreement_percent, "shadow disagreement"),
    )  # fmt: skip


def queries_per_period(config: AppConfig, percent: float) -> int:
    """Enough queries for about 1.5x the alarms' `min_candidate_requests` in the candidate's share."""
    wanted = 1.5 * config.rollout.min_candidate_requests * 100.0 / percent
    return max(100, min(MAX_QUERIES_PER_PERIOD, int(-(-wanted // 1))))


def candidate_counts(results: Sequence[RouteResult]) -> Counter[str]:
    """The rollout metrics of these results, counted as router_api.telemetry._record_candidate emits them."""
    counts: Counter[str] = Counter()
    for result in results:
        candidate = result.candidate
        if candidate is None or not candidate.asked:
            continue
        counts["CandidateRequests"] += 1
        counts["CandidateFallbacks"] += candidate.fallback
        counts["CandidateParseFailures"] += candidate.outcome == "parse_failure"
        if candidate.compared:
            counts["ShadowComparisons"] += 1
            counts["ShadowDisagreements"] += bool(candidate.disagreed)
    return counts


@dataclass
class Period:
    """One 5-minute period of simulated traffic: what served, what the candidate did, each alarm's datapoint."""

    minutes: int
    queries: int
    served: Counter[str]
    counts: Counter[str]
    outcomes: Counter[str]
    rates: dict[str, float | None]
    candidate_failing: bool


@dataclass
class RolloutOutcome:
    """How the rollout stage went: its periods, the alarm that fired, the controller's answer, the history."""

    mode: str
    percent: float
    active_model: str | None = None
    candidate: str | None = None
    started: bool = False
    periods: list[Period] = field(default_factory=list)
    alarm: str | None = None
    controller: list[dict[str, Any]] = field(default_factory=list)
    parameter: ActiveModel | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def aborted(self) -> bool:
        return any(result.get("action") == "aborted" for result in self.controller)


def _wait_for_done(future: Future, _timeout_s: float) -> bool:
    """The shadow's wait in the dry run: the candidate's answer (the stand-in takes no real time)."""
    done, _ = wait_futures([future], timeout=30.0)
    return bool(done)


class RolloutStage:
    """The rollout stage of one dry run: `before_run` (the previous model), then `after_run` (traffic, alarm)."""

    def __init__(
        self,
        config: AppConfig,
        local: LocalPipeline,
        bedrock: dict[str, Any],
        line: Callable[[str], None],
        *,
        seed: int,
    ) -> None:
        self.config = config
        self.local = local
        self.runtime = bedrock["bedrock-runtime"]
        self.account = bedrock["bedrock"].account
        self.line = line
        self.seed = seed
        policy = config.promotion
        self.outcome = RolloutOutcome(mode=policy.on_pass, percent=float(policy.percent))
        self.ssm = boto3.client("ssm", region_name=local.region)
        self.cloudwatch = boto3.client("cloudwatch", region_name=local.region)
        self.parameter = config.active_model_parameter_name
        self.topic = local.create_topic(f"{config.prefix}-router-alarms")
        self.rules = alarm_rules(config)
        self.per_period = queries_per_period(config, self.outcome.percent)
        self._queries: Iterator[str] = live_queries(seed, config.modalities)
        self._t0 = datetime.min

    # ------------------------------------------------------------------ before the run

    def before_run(self) -> None:
        """The previous deployment, stood in for by the configured default, active in moto SSM."""
        model = self.config.router_default_model_id
        value = promoted(NO_ACTIVE_MODEL, model_id=model, run_id="previous-deployment", by=PREVIOUS_BY,
                         reason="OFFLINE STAND-IN: the model serving before this run")  # fmt: skip
        write_active_model(self.ssm, self.parameter, value)
        self.line(
            f"rollout: promotion.on_pass {self.outcome.mode}, {self.outcome.percent:g} % of queries; before the "
            f"run the sandbox's (moto) parameter names {model} (the configured default, standing in for the "
            "previous deployment) so the run's model is rolled out against it"
        )

    # ------------------------------------------------------------------ after the run

    def after_run(self) -> RolloutOutcome:
        outcome = self.outcome
        current = read_active_model(self.ssm, self.parameter)
        rollout = current.rollout
        if rollout is None:
            self.line("rollout: not started (the run did not reach the Promote step with a passing gate)")
            return outcome
        outcome.started, outcome.active_model, outcome.candidate = True, current.model_id, rollout.model_id
        start = self._t0 = started_at(rollout)
        self.line(
            f"rollout: {rollout.mode} of {rollout.model_id} for {rollout.percent:g} % of queries started by "
            f"{current.change.by if current.change else '?'}; the active model {current.model_id} still serves"
        )
        self.line(
            f"rollout: live traffic, simulated: {self.per_period} distinct synthetic queries per 5-minute period "
            f"(the stand-in's vocabulary, seed {self.seed}) through the real router (router_api), which reads "
            "the parameter from moto SSM at every query (max age 0 s); Bedrock is the offline stand-in"
        )
        router = self._router()
        self._create_alarms()
        self._period(router, 1, failing=False)
        fired = self._breaching()
        minutes = 1
        if not fired:
            self.line(
                f"rollout: the stand-in's candidate now fails: its Converse calls raise {FAILING_ERROR} "
                "(scripted: account.script.converse_errors)"
            )
            for _ in range(self.config.rollout.evaluation_periods):
                minutes += 1
                self._period(router, minutes, failing=True)
                fired = self._breaching()
                if fired:
                    break
        if fired:
            at = start + PERIOD * minutes
            for rule in fired:
                self._fire(rule, at)
            minutes += 1
            self._period(router, minutes, failing=True)
        else:
            self.line("rollout: no alarm breached: the rollout keeps running")
        outcome.parameter = read_active_model(self.ssm, self.parameter)
        self._print_parameter(outcome.parameter)
        outcome.history = parameter_history(self.ssm, self.parameter)
        self._print_history(outcome.history, start)
        return outcome

    def _router(self) -> Router:
        """The real router, wired as tests/api wire it: the stand-in's runtime for every timeout tier."""
        deployments = f"arn:aws:bedrock:{self.local.region}:{self.local.account_id}:custom-model-deployment/"
        settings = replace(router_settings(self.config, deployment_arn_prefix=deployments),
                           active_model_max_age_seconds=0)  # fmt: skip
        runtime = self.runtime
        return Router(
            settings,
            # The stand-in's per-thread simulated clock times each call: the latencies are its simulation.
            models=ModelInvoker(
                settings,
                ClientPool(create=lambda _config: runtime),
                sleep=lambda _s: None,
                clock=runtime.timer,
            ),
            active_model=ActiveModelSource.for_settings(
                settings, read_parameter=powertools_reader(lambda: self.ssm)
            ),
            cache=DecisionCache(
                max_entries=settings.cache_max_entries, ttl_seconds=settings.cache_ttl_seconds
            ),
            shadow=ShadowRunner(
                slack_ms=settings.shadow_slack_ms,
                max_in_flight=settings.batch_concurrency,
                wait=_wait_for_done,
            ),
        )

    def _period(self, router: Router, number: int, *, failing: bool) -> None:
        """Route one period's queries one by one; count what served and what the candidate did."""
        candidate = self.outcome.candidate or ""
        script = self.account.script
        if failing:
            # At most one candidate call per query: ModelErrorException is not retried (router_api.service).
            script.converse_errors[candidate] = [FAILING_ERROR] * self.per_period
        results: list[RouteResult] = []
        settings = router.settings
        for query in itertools.islice(self._queries, self.per_period):
            results.extend(router.route([query], Deadline.start(settings.deadline_ms)))
        script.converse_errors.pop(candidate, None)
        active = self.outcome.active_model
        served = Counter(
            "candidate" if result.model == candidate else "active" if result.model == active
            else "heuristic" if result.model == HEURISTIC_MODEL else "fallback"
            for result in results
        )  # fmt: skip
        counts = candidate_counts(results)
        outcomes = Counter(
            (result.candidate.detail or result.candidate.outcome)
            for result in results
            if result.candidate is not None and result.candidate.fallback
        )
        least = self.config.rollout.min_candidate_requests
        rates = {rule.key: rule.rate(counts, least) for rule in self.rules}
        period = Period(number * 5, len(results), served, counts, outcomes, rates, failing)
        self.outcome.periods.append(period)
        self._print_period(period)

    def _breaching(self) -> list[AlarmRule]:
        """The alarms whose last `evaluation_periods` datapoints hold `datapoints_to_alarm` above the threshold."""
        limits = self.config.rollout
        fired = []
        for rule in self.rules:
            recent = [period.rates[rule.key] for period in self.outcome.periods[-limits.evaluation_periods :]]
            above = [value for value in recent if value is not None and value > rule.threshold]
            if len(above) >= limits.datapoints_to_alarm:
                fired.append(rule)
        return fired

    # ------------------------------------------------------------------ the alarm and the controller

    def _alarm_metrics(self, rule: AlarmRule) -> list[dict[str, Any]]:
        """The alarm's metric math as stacks/constructs/rollout_control.py defines it (query ids in lower case)."""
        dimensions = [{"Name": "service", "Value": self.config.router_metrics_service}]

        def stat(name: str) -> dict[str, Any]:
            metric = {
                "Namespace": self.config.router_metrics_namespace,
                "MetricName": name,
                "Dimensions": dimensions,
            }
            return {"Id": name.lower(), "MetricStat": {"Metric": metric, "Period": 300, "Stat": "Sum"},
                    "ReturnData": False}  # fmt: skip

        least = self.config.rollout.min_candidate_requests
        part, total = rule.part.lower(), rule.total.lower()
        expression = f"IF({total} >= {least}, 100 * FILL({part}, 0) / {total})"
        return [stat(rule.total), stat(rule.part),
                {"Id": "expr_1", "Expression": expression, "Label": rule.label, "ReturnData": True}]  # fmt: skip

    def _create_alarms(self) -> None:
        """The count-based rollout alarms in moto CloudWatch, as the router API stack creates them (state OK)."""
        limits = self.config.rollout
        for rule in self.rules:
            self.cloudwatch.put_metric_alarm(
                AlarmName=self.config.rollout_alarm_names[rule.key],
                Metrics=self._alarm_metrics(rule),
                Threshold=rule.threshold,
                EvaluationPeriods=limits.evaluation_periods,
                DatapointsToAlarm=limits.datapoints_to_alarm,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )

    def _fire(self, rule: AlarmRule, at: datetime) -> None:
        """Put the alarm into ALARM (moto) and hand CloudWatch's state change event to the real controller."""
        name = self.config.rollout_alarm_names[rule.key]
        limits = self.config.rollout
        values = [p.rates[rule.key] for p in self.outcome.periods[-limits.evaluation_periods :]][::-1]
        shown = [value for value in values if value is not None]
        above = sum(value > rule.threshold for value in shown)
        reason = (
            f"Threshold Crossed: {above} out of the last {len(values)} datapoints "
            f"[{', '.join(f'{value:.1f}' for value in shown)}] were greater than the threshold "
            f"({rule.threshold:.1f}) (minimum {limits.datapoints_to_alarm} datapoints for OK -> ALARM transition)."
        )
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        reason_data = f'{{"version":"1.0","queryDate":"{stamp}"}}'
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason,
                                        StateReasonData=reason_data)  # fmt: skip
        self.outcome.alarm = self.outcome.alarm or name
        self.line(
            f"rollout t+{_minutes(at, self._t0)} min: alarm {name} in ALARM (moto CloudWatch): {reason}"
        )
        result = self._invoke_controller(_alarm_event(self, name, rule, reason, reason_data, at), at)
        self.outcome.controller.append(result)
        self.line(f"rollout: the rollout controller (lambdas/rollout_control/handler.py, in process): "
                  f"{result.get('action')}: {result.get('reason')}")  # fmt: skip
        for message in self._alarm_topic_messages():
            self.line(f'rollout: SNS {self.topic.rsplit(":", 1)[-1]} (moto): "{message["subject"]}"')

    def _invoke_controller(self, event: dict[str, Any], at: datetime) -> dict[str, Any]:
        handler = load_step_handlers({"RolloutControl": "rollout_control"})["rollout_control"]
        context = LocalLambdaContext(
            function_name="rollout_control",
            invoked_function_arn=self.local.function_arn("rollout_control"),
            aws_request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event['id']}")),
        )
        environment = rollout_control_environment(self.config, topic_arn=self.topic)
        with mock.patch.dict(os.environ, environment), lambda_clients.override_clock(lambda: at):
            return handler(event, context)

    def _alarm_topic_messages(self) -> list[dict[str, Any]]:
        new = [item for item in self.local.notifications() if item["topic"] == self.topic]
        fresh = new[len(self.outcome.notifications) :]
        self.outcome.notifications.extend(fresh)
        return fresh

    # ------------------------------------------------------------------ printing

    def _print_period(self, period: Period) -> None:
        served, counts = period.served, period.counts
        shares = ", ".join(
            f"{served[key]} by the {label}"
            for key, label in (("active", "active model"), ("candidate", "candidate"),
                               ("fallback", "fallback model"), ("heuristic", "heuristic"))
            if served[key]
        )  # fmt: skip
        self.line(f"router t+{period.minutes} min: {period.queries} queries: {shares}")
        asked = counts["CandidateRequests"]
        text = f"  candidate asked {asked} times ({self.outcome.mode}), no usable answer {counts['CandidateFallbacks']}"
        if period.outcomes:
            text += (
                " (" + ", ".join(f"{name} {count}" for name, count in sorted(period.outcomes.items())) + ")"
            )
        if self.outcome.mode == "shadow":
            text += f"; compared {counts['ShadowComparisons']}, dominant modality differs {counts['ShadowDisagreements']}"
        self.line(text)
        least = self.config.rollout.min_candidate_requests
        rates = "; ".join(
            f"{rule.label} {_rate(period.rates[rule.key], least)} (alarm above {rule.threshold:g} %)"
            for rule in self.rules
        )
        self.line(f"  alarm datapoints (their metric math): {rates}")

    def _print_parameter(self, value: ActiveModel) -> None:
        rollout = (
            f"{value.rollout.mode} of {value.rollout.model_id} for {value.rollout.percent:g} %"
            if value.rollout else "no rollout"
        )  # fmt: skip
        change = value.change
        by = f"; change.by {change.by} ({change.action}): {change.reason}" if change else ""
        self.line(f"rollout: the parameter now: {value.model_id} serves alone, {rollout}{by}")

    def _print_history(self, history: Sequence[HistoryEntry], start: datetime) -> None:
        self.line(f"rollout: the parameter's history (GetParameterHistory, moto): {len(history)} values")
        for entry in history:
            value, change = entry.value, entry.value.change
            when = "before the run"
            if change is not None and datetime.fromisoformat(change.at) >= start:
                when = f"t+{_minutes(datetime.fromisoformat(change.at), start)} min"
            what = f"{change.by} {change.action}" if change else "no change record"
            why = f": {change.reason}" if change and change.reason else ""
            rollout = f" + {value.rollout.mode} {value.rollout.percent:g} %" if value.rollout else ""
            self.line(f"  v{entry.version} {when}: {value.model_id}{rollout}; {what}{why}")


def _alarm_event(
    stage: RolloutStage, name: str, rule: AlarmRule, reason: str, reason_data: str, at: datetime
) -> dict[str, Any]:
    """CloudWatch's "CloudWatch Alarm State Change" event, as tests/unit/test_rollout_control.py builds it.

    CloudWatch user guide, "Alarm events and EventBridge": source aws.cloudwatch, detail-type
    "CloudWatch Alarm State Change", detail.alarmName, detail.state.value the new state.
    """
    region, account = stage.local.region, stage.local.account_id
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    metrics = [{"expression": item["Expression"], "id": item["Id"], "label": item["Label"], "returnData": True}
               for item in stage._alarm_metrics(rule) if "Expression" in item]  # fmt: skip
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{stamp}")),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "configuration": {"metrics": metrics},
            "previousState": {
                "reason": "Threshold Crossed: no datapoints were breaching.",
                "timestamp": stamp,
                "value": "OK",
            },
            "state": {"reason": reason, "reasonData": reason_data, "timestamp": stamp, "value": "ALARM"},
        },
    }


def _minutes(at: datetime, start: datetime) -> int:
    return round((at - start).total_seconds() / 60)


def _rate(value: float | None, least: int) -> str:
    return "no data" if value is None else f"{value:.1f} %"
