"""Shadow and canary rollouts in the router: selection, serving, the shadow's budget, the cache, metrics.

The active-model parameter lives in moto's SSM and is read through Powertools, as in production;
Bedrock is a scripted fake client per model (shadow calls run on another thread, so Stubber's
ordered queue cannot stand in for it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from router_api.cache import DecisionCache
from router_api.model_selection import ActiveModelSource, powertools_reader
from router_api.rollout import CandidateResult, ShadowRunner, agreement, bucket, selected
from router_api.service import Deadline, ModelInvoker, Router
from router_fixtures import DEFAULT_MODEL, DEPLOYMENT_ARN, FALLBACK_MODEL, PARAMETER_NAME, api_event
from routing import RoutingDecision, normalise_query
from routing.active_model import Rollout

ACTIVE = DEPLOYMENT_ARN
CANDIDATE = DEPLOYMENT_ARN.replace("abcdef123456", "candidate001")
FOREIGN = DEPLOYMENT_ARN.replace("123456789012", "210987654321")
ACTIVE_ANSWER = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "seen"}'
CANDIDATE_ANSWER = '{"visual": 0.1, "audio": 0.1, "transcription": 0.7, "metadata": 0.1, "reasoning": "said"}'
FALLBACK_ANSWER = '{"visual": 0.4, "audio": 0.2, "transcription": 0.2, "metadata": 0.2, "reasoning": "fb"}'


def parameter(mode: str | None, percent: float = 100.0, candidate: str = CANDIDATE) -> str:
    value: dict[str, Any] = {"model_id": ACTIVE, "run_id": "r1", "promoted_at": "2026-12-01T00:00:00+00:00"}
    if mode is not None:
        value["rollout"] = {"model_id": candidate, "run_id": "r2", "mode": mode, "percent": percent,
                            "started_at": "2026-12-01T10:00:00+00:00"}  # fmt: skip
    return json.dumps(value)


@dataclass
class Behaviour:
    text: str = ACTIVE_ANSWER
    error: str | None = None  # a Bedrock error code
    gate: threading.Event | None = None  # the call blocks until the gate opens


class FakeBedrock:
    """Converse by model id; records (model id, the client's timeout in ms, model_role) per call."""

    def __init__(self) -> None:
        self.behaviour: dict[str, Behaviour] = {
            ACTIVE: Behaviour(ACTIVE_ANSWER),
            CANDIDATE: Behaviour(CANDIDATE_ANSWER),
            FALLBACK_MODEL: Behaviour(FALLBACK_ANSWER),
            DEFAULT_MODEL: Behaviour(ACTIVE_ANSWER),
        }
        self.calls: list[tuple[str, float, str]] = []
        self._lock = threading.Lock()

    def create(self, config: Any) -> Any:
        timeout_ms = (config.connect_timeout + config.read_timeout) * 1000
        fake = self

        class Client:
            def converse(self, **params: Any) -> dict[str, Any]:
                model = params["modelId"]
                with fake._lock:
                    fake.calls.append((model, timeout_ms, params["requestMetadata"]["model_role"]))
                how = fake.behaviour[model]
                if how.gate is not None:
                    how.gate.wait(10)
                if how.error:
                    raise ClientError({"Error": {"Code": how.error, "Message": how.error},
                                       "ResponseMetadata": {"HTTPStatusCode": 400}}, "Converse")  # fmt: skip
                return {"output": {"message": {"role": "assistant", "content": [{"text": how.text}]}},
                        "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                        "metrics": {"latencyMs": 1}}  # fmt: skip

        return Client()

    def models(self) -> list[str]:
        return [model for model, _timeout, _role in self.calls]


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    double = FakeBedrock()
    yield double
    for how in double.behaviour.values():  # let blocked shadow threads finish
        if how.gate is not None:
            how.gate.set()


@pytest.fixture(scope="module")
def moto_ssm() -> Iterator[Any]:
    """One moto world and SSM client for the module (starting them per test costs more than the tests)."""
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


@pytest.fixture
def ssm(moto_ssm: Any) -> Iterator[Any]:
    yield moto_ssm
    moto_ssm.delete_parameter(Name=PARAMETER_NAME)


def set_parameter(ssm: Any, value: str) -> None:
    ssm.put_parameter(Name=PARAMETER_NAME, Type="String", Overwrite=True, Value=value)


class Waits:
    """The shadow's wait, recorded: how long the router would wait, then `patience_s` of real waiting."""

    def __init__(self, patience_s: float) -> None:
        self.patience_s = patience_s
        self.timeouts_s: list[float] = []

    def __call__(self, future: Any, timeout_s: float) -> bool:
        self.timeouts_s.append(timeout_s)
        done, _ = wait_futures([future], timeout=self.patience_s)
        return bool(done)


def make(settings, fake: FakeBedrock, ssm: Any, *, waits: Waits | None = None, refused: list | None = None,
         cache: DecisionCache | None = None, clock=None) -> Router:  # fmt: skip
    """A router reading the moto parameter (max age 0: every request sees the current value)."""
    settings = replace(settings, active_model_max_age_seconds=0)
    extra = {"clock": clock} if clock is not None else {}
    return Router(
        settings,
        models=ModelInvoker(settings, _pool(fake), sleep=lambda _s: None, **extra),
        active_model=ActiveModelSource.for_settings(
            settings,
            read_parameter=powertools_reader(lambda: ssm),
            on_candidate_refused=(refused.append if refused is not None else None),
        ),
        cache=cache or DecisionCache(max_entries=1_000, ttl_seconds=600),
        shadow=ShadowRunner(slack_ms=settings.shadow_slack_ms, max_in_flight=4, wait=waits or Waits(10.0)),
        **extra,
    )


def _pool(fake: FakeBedrock):
    from router_api.bedrock import ClientPool

    return ClientPool(create=fake.create)


def route(router: Router, *queries: str, budget_ms: float = 6_000, clock=None):
    deadline = Deadline.start(budget_ms, clock=clock) if clock else Deadline.start(budget_ms)
    return router.route(list(queries), deadline)


# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize("percent", [1.0, 10.0, 37.5, 90.0])
def test_the_canary_share_over_ten_thousand_queries_is_within_one_point(percent):
    rollout = Rollout(CANDIDATE, "r2", "canary", percent, "2026-12-01T10:00:00+00:00")
    chosen = sum(selected(rollout, normalise_query(f"query number {i} about goals")) == "canary"
                 for i in range(10_000))  # fmt: skip

    assert abs(chosen / 100 - percent) <= 1.0


def test_selection_is_stable_monotone_in_percent_and_safe_for_any_text():
    keys = [normalise_query(f"sunset {i}") for i in range(500)] + ["lone \ud800 surrogate"]
    small = Rollout(CANDIDATE, None, "shadow", 20.0, "t")
    large = replace(small, percent=60.0)

    in_small = {key for key in keys if selected(small, key)}
    in_large = {key for key in keys if selected(large, key)}

    assert in_small <= in_large  # raising the share only adds queries
    assert [bucket(key, CANDIDATE) for key in keys] == [bucket(key, CANDIDATE) for key in keys]
    assert all(0.0 <= bucket(key, CANDIDATE) < 100.0 for key in keys)
    assert selected(replace(small, percent=0.0), keys[0]) is None
    assert all(selected(replace(small, percent=100.0), key) == "shadow" for key in keys)
    # Another candidate draws another sample.
    assert {key for key in keys if bucket(key, FOREIGN) < 20.0} != in_small


def test_the_same_query_is_served_by_the_same_model_also_by_a_new_router(settings, fake, ssm):
    set_parameter(ssm, parameter("canary", 50.0))
    queries = [f"goal in match {i}" for i in range(40)]

    def served(router: Router) -> list[str]:
        return [result.model for result in route(router, *queries)]

    first = served(make(settings, fake, ssm))
    again = served(make(settings, fake, ssm))  # another container: its own cache, the same hash

    assert first == again
    assert set(first) == {ACTIVE, CANDIDATE}
    rollout = Rollout(CANDIDATE, None, "canary", 50.0, "t")
    assert [model == CANDIDATE for model in first] == [
        bool(selected(rollout, normalise_query(q))) for q in queries
    ]


# --------------------------------------------------------------------------- canary


def test_a_canary_query_is_served_by_the_candidate_and_says_so(settings, fake, ssm):
    set_parameter(ssm, parameter("canary", 100.0))

    (result,) = route(make(settings, fake, ssm), "interview with the mayor")

    assert (result.model, result.source, result.degraded) == (CANDIDATE, "model", False)
    assert result.active_model == ACTIVE
    assert result.to_dict()["transcription"] == 0.7
    assert fake.calls[0][0::2] == (CANDIDATE, "candidate")
    assert result.candidate == CandidateResult(CANDIDATE, "canary", "ok", result.calls[0].latency_ms)


@pytest.mark.parametrize("fallback_fails", [False, True])
def test_a_failing_candidate_degrades_like_the_active_model(settings, fake, ssm, fallback_fails):
    set_parameter(ssm, parameter("canary", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(error="ThrottlingException")
    if fallback_fails:
        fake.behaviour[FALLBACK_MODEL] = Behaviour(text="no json at all")

    (result,) = route(make(settings, fake, ssm), "cats")

    assert fake.models() == [CANDIDATE, FALLBACK_MODEL]
    expected = ("heuristic", "heuristic") if fallback_fails else (FALLBACK_MODEL, "fallback_model")
    assert (result.model, result.source, result.degraded) == (*expected, True)
    assert (result.candidate.outcome, result.candidate.fallback) == ("throttled", True)


def test_the_cache_key_is_the_serving_model_so_a_rollout_change_never_serves_a_stale_mix(settings, fake, ssm):
    set_parameter(ssm, parameter("canary", 100.0))
    router = make(settings, fake, ssm)

    canary = [route(router, "cats")[0] for _ in range(2)]
    set_parameter(ssm, parameter(None))  # rollout aborted: the active model serves alone
    active = [route(router, "cats")[0] for _ in range(2)]
    set_parameter(ssm, parameter("canary", 100.0))
    back = route(router, "cats")[0]

    assert [(r.model, r.source) for r in canary] == [(CANDIDATE, "model"), (CANDIDATE, "cache")]
    assert [(r.model, r.source) for r in active] == [(ACTIVE, "model"), (ACTIVE, "cache")]
    assert (back.model, back.source, back.decision) == (CANDIDATE, "cache", canary[0].decision)
    assert fake.models() == [CANDIDATE, ACTIVE]
    assert router.cache.get("cats", CANDIDATE) != router.cache.get("cats", ACTIVE)


def test_only_the_serving_models_own_answers_are_cached(settings, fake, ssm):
    set_parameter(ssm, parameter("shadow", 100.0))
    router = make(settings, fake, ssm)

    (result,) = route(router, "cats")

    assert router.cache.get("cats", ACTIVE) == result.decision
    assert router.cache.get("cats", CANDIDATE) is None  # the shadow's answer is never served, never cached


# --------------------------------------------------------------------------- shadow


def test_shadow_serves_the_active_answer_and_compares_the_candidates(settings, fake, ssm):
    set_parameter(ssm, parameter("shadow", 100.0))

    (result,) = route(make(settings, fake, ssm), "dog barking")

    assert (result.model, result.source, result.degraded) == (ACTIVE, "model", False)
    assert result.to_dict()["visual"] == 0.7
    assert sorted(fake.models()) == sorted([ACTIVE, CANDIDATE])
    assert [call.model_id for call in result.calls] == [ACTIVE]  # the shadow call is not the served path's
    candidate = result.candidate
    assert (candidate.mode, candidate.outcome, candidate.disagreed) == ("shadow", "ok", True)
    assert candidate.weight_difference == pytest.approx(0.3)
    assert candidate.latency_ms is not None


def test_agreement_uses_the_rubrics_dominant_rule_and_the_mean_weight_difference():
    served = RoutingDecision.from_weights(
        {"visual": 0.4, "audio": 0.4, "transcription": 0.1, "metadata": 0.1}
    )
    close = RoutingDecision.from_weights({"visual": 0.5, "audio": 0.3, "transcription": 0.1, "metadata": 0.1})
    other = RoutingDecision.from_weights({"visual": 0.1, "audio": 0.1, "transcription": 0.7, "metadata": 0.1})

    assert agreement(served, close) == (False, pytest.approx(0.05))  # ranks first one of the tied modalities
    assert agreement(served, other) == (True, pytest.approx(0.3))


def test_a_slow_shadow_candidate_never_delays_past_the_slack_nor_takes_the_active_calls_time(
    settings, fake, ssm
):
    set_parameter(ssm, parameter("shadow", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(CANDIDATE_ANSWER, gate=threading.Event())  # never answers in time
    waits = Waits(patience_s=0.0)
    settings = replace(settings, deadline_ms=2_000, shadow_slack_ms=120)

    (result,) = route(make(settings, fake, ssm, waits=waits), "cats", budget_ms=2_000)

    assert (result.model, result.source, result.to_dict()["visual"]) == (ACTIVE, "model", 0.7)
    assert result.candidate.outcome == "late" and result.candidate.fallback
    assert waits.timeouts_s and max(waits.timeouts_s) <= 0.120  # at most the slack after the served answer
    timeouts = {model: timeout for model, timeout, _role in fake.calls}
    # The active call keeps its tier (2000 - 35 % - 25 ms -> 1.0 s); the candidate's own budget is that + slack.
    assert timeouts[ACTIVE] == 1_000
    assert timeouts[CANDIDATE] <= 2_000 - 700 - 25 + 120


def test_the_shadow_wait_never_runs_past_the_deadline(settings, fake, ssm):
    class Clock:
        now = 50.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    set_parameter(ssm, parameter("shadow", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(CANDIDATE_ANSWER, gate=threading.Event())
    create = fake.create

    def slow_active(config: Any) -> Any:  # the active model takes 1.9 s of a 2 s deadline
        inner = create(config)

        class Client:
            def converse(self, **params: Any) -> dict[str, Any]:
                answer = inner.converse(**params)
                if params["modelId"] == ACTIVE:
                    clock.now += 1.9
                return answer

        return Client()

    fake.create = slow_active
    waits = Waits(patience_s=0.0)
    settings = replace(settings, deadline_ms=2_000, shadow_slack_ms=500)

    (result,) = route(
        make(settings, fake, ssm, waits=waits, clock=clock), "cats", budget_ms=2_000, clock=clock
    )

    assert result.source == "model" and result.candidate.outcome == "late"
    assert waits.timeouts_s == [pytest.approx(0.1)]  # 100 ms left of the deadline, not the 500 ms slack


def test_a_failing_shadow_candidate_never_changes_the_answer(settings, fake, ssm):
    set_parameter(ssm, parameter("shadow", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(text="not a decision")

    (result,) = route(make(settings, fake, ssm), "cats")

    assert (result.model, result.source) == (ACTIVE, "model")
    assert (result.candidate.outcome, result.candidate.compared) == ("parse_failure", False)


def test_shadow_is_not_asked_on_a_cache_hit_and_not_when_every_slot_is_taken(settings, fake, ssm):
    set_parameter(ssm, parameter("shadow", 100.0))
    gate = threading.Event()
    fake.behaviour[CANDIDATE] = Behaviour(CANDIDATE_ANSWER, gate=gate)
    router = make(settings, fake, ssm, waits=Waits(patience_s=0.0))

    late = [route(router, f"query {i}")[0] for i in range(4)]  # four late calls hold the four slots
    busy = route(router, "query 5")[0]
    hit = route(router, "query 0")[0]

    assert [r.candidate.outcome for r in late] == ["late"] * 4
    assert (busy.candidate.outcome, busy.candidate.asked, busy.source) == ("busy", False, "model")
    assert (hit.source, hit.candidate) == ("cache", None)
    assert fake.models().count(CANDIDATE) == 4
    gate.set()


def test_a_batch_shadows_each_item(settings, fake, ssm):
    set_parameter(ssm, parameter("shadow", 100.0))

    results = route(make(settings, fake, ssm), "cats", "dogs", "cats ", "birds")

    assert [r.model for r in results] == [ACTIVE] * 4
    assert [r.candidate and r.candidate.outcome for r in results] == ["ok", "ok", None, "ok"]
    assert fake.models().count(CANDIDATE) == 3  # the repeated query is routed (and shadowed) once


# --------------------------------------------------------------------------- refused candidates


def test_a_candidate_this_router_may_not_serve_is_no_rollout_reported_once(settings, fake, ssm):
    set_parameter(ssm, parameter("canary", 100.0, candidate=FOREIGN))
    refused: list[str] = []
    router = make(settings, fake, ssm, refused=refused)

    results = [route(router, f"query {i}")[0] for i in range(3)]

    assert [r.model for r in results] == [ACTIVE] * 3
    assert all(r.candidate is None for r in results)
    assert refused == [FOREIGN]
    assert FOREIGN not in fake.models()


def test_a_candidate_bedrock_denies_ends_the_rollout_in_this_container(settings, fake, ssm):
    set_parameter(ssm, parameter("canary", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(error="AccessDeniedException")
    refused: list[str] = []
    router = make(settings, fake, ssm, refused=refused)

    first = route(router, "cats")[0]
    second = route(router, "dogs")[0]

    assert (first.model, first.source) == (FALLBACK_MODEL, "fallback_model")
    assert (second.model, second.source, second.candidate) == (ACTIVE, "model", None)
    assert refused == [CANDIDATE]


def test_an_ssm_outage_keeps_the_rollout_last_read(settings):
    values: list[object] = [parameter("canary", 30.0), TimeoutError("ssm")]

    def read(_name: str, _max_age: int) -> str:
        value = values.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    source = ActiveModelSource.for_settings(settings, read_parameter=read)
    first, during = source.current(), source.current()

    assert (first.origin, first.rollout.model_id, first.rollout.percent) == ("parameter", CANDIDATE, 30.0)
    assert (during.origin, during.rollout) == ("stale", first.rollout)


# --------------------------------------------------------------------------- metrics


def _emitted(output: str) -> tuple[dict[str, list], list[dict]]:
    metrics: dict[str, list] = {}
    logs = []
    for line in output.splitlines():
        record = json.loads(line)
        if "_aws" in record:
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = record[metric["Name"]]
                    metrics[metric["Name"]] = value if isinstance(value, list) else [value]
        else:
            logs.append(record)
    return metrics, logs


def test_rollout_metrics_and_summary_facts_are_emitted(invoke, settings, fake, ssm, capsys, caplog):
    set_parameter(ssm, parameter("shadow", 100.0))
    capsys.readouterr()

    invoke(api_event(body={"query": "cats"}), make(settings, fake, ssm))
    shadow, _ = _emitted(capsys.readouterr().out)

    set_parameter(ssm, parameter("canary", 100.0))
    fake.behaviour[CANDIDATE] = Behaviour(text="garbage")
    response = invoke(api_event(body={"query": "dogs"}), make(settings, fake, ssm))
    canary, _ = _emitted(capsys.readouterr().out)

    assert shadow["CandidateRequests"] == [1.0]
    assert shadow["ShadowComparisons"] == [1.0] and shadow["ShadowDisagreements"] == [1.0]
    assert shadow["ShadowWeightDifference"] == [pytest.approx(0.3)]
    assert {"ActiveLatency", "CandidateLatency"} <= set(shadow)
    assert "CandidateFallbacks" not in shadow
    assert response["json"]["model"] == FALLBACK_MODEL
    assert canary["CandidateRequests"] == [1.0] and canary["CandidateFallbacks"] == [1.0]
    assert canary["CandidateParseFailures"] == [1.0]
    (warning,) = [record for record in caplog.records if record.getMessage() == "routed with model failures"]
    assert warning.rollout == {"mode": "canary", "candidate": CANDIDATE, "queries": 1,
                                  "outcomes": {"parse_failure": 1}, "fallbacks": 1, "compared": 0, "disagreed": 0}  # fmt: skip
