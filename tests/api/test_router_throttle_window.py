"""The per-container throttle window: a model that throttled is skipped for throttle_window_ms, then probed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from router_api.cache import DecisionCache
from router_api.model_selection import ActiveModelSource
from router_api.service import Deadline, ModelInvoker, Router
from router_api.settings import RouterSettings, SettingsError
from router_api.throttle_window import ThrottleWindow
from router_fixtures import DEFAULT_MODEL, FALLBACK_MODEL, ROUTER_ENV, api_event, expected_converse


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def router_with(settings: RouterSettings, bedrock, clock: Clock) -> Router:
    """A router without the parameter (the default model is active) and without a cache, on `clock`."""
    return Router(
        settings,
        models=ModelInvoker(settings, bedrock.pool(), sleep=lambda _s: None, clock=clock),
        active_model=ActiveModelSource(
            parameter_name=None, default_model_id=DEFAULT_MODEL, max_age_seconds=60
        ),
        cache=DecisionCache(max_entries=0, ttl_seconds=0),
        clock=clock,
    )


def route(router: Router, query: str, clock: Clock):
    (result,) = router.route([query], Deadline.start(router.settings.deadline_ms, clock=clock))
    return result


def test_after_a_throttle_the_model_is_skipped_for_the_window_then_asked_again(settings, bedrock, clock):
    router = router_with(settings, bedrock, clock)
    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, "q1", "active"), "ThrottlingException", 429)
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, "q1", "fallback"))
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, "q2", "fallback"))
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "q3", "active"))

    first = route(router, "q1", clock)
    clock.now += 0.499
    second = route(router, "q2", clock)  # inside the 500 ms window: no call to the active model
    clock.now += 0.002
    third = route(router, "q3", clock)  # after it: the active model is probed again, and answers

    assert [(c.role, c.outcome) for c in first.calls] == [("active", "throttled"), ("fallback", "ok")]
    assert [(c.role, c.outcome) for c in second.calls] == [("active", "shed"), ("fallback", "ok")]
    assert second.source == "fallback_model" and second.degraded
    assert (third.source, [c.outcome for c in third.calls]) == ("model", ["ok"])
    bedrock.stubber.assert_no_pending_responses()


def test_other_failures_open_no_window(settings, bedrock, clock):
    router = router_with(settings, bedrock, clock)
    for _ in range(2):  # a 5xx is retried once
        bedrock.fail(
            expected_converse(settings, DEFAULT_MODEL, "q1", "active"), "InternalServerException", 500
        )
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, "q1", "fallback"))
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "q2", "active"))

    route(router, "q1", clock)

    assert route(router, "q2", clock).source == "model"
    bedrock.stubber.assert_no_pending_responses()


def test_a_zero_window_asks_the_throttled_model_every_time(settings, bedrock, clock):
    router = router_with(replace(settings, throttle_window_ms=0), bedrock, clock)
    for query in ("q1", "q2"):
        bedrock.fail(expected_converse(settings, DEFAULT_MODEL, query, "active"), "ThrottlingException", 429)
        bedrock.answer(expected_converse(settings, FALLBACK_MODEL, query, "fallback"))

    outcomes = [[c.outcome for c in route(router, q, clock).calls] for q in ("q1", "q2")]

    assert outcomes == [["throttled", "ok"], ["throttled", "ok"]]
    bedrock.stubber.assert_no_pending_responses()


def test_each_model_has_its_own_window(clock):
    window = ThrottleWindow(500, clock)
    window.record("a", ["throttled"])
    window.record("b", ["ok", "unavailable"])

    assert window.skipping("a") and not window.skipping("b")
    clock.now += 0.5
    assert not window.skipping("a")


def test_a_shed_call_is_not_a_model_error(invoke, settings, bedrock, clock, capsys):
    router = router_with(settings, bedrock, clock)
    router._throttles.record(DEFAULT_MODEL, ["throttled"])
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, "cats", "fallback"))
    capsys.readouterr()

    response = invoke(api_event(body={"query": "cats"}), router)

    emitted = set()
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            emitted.update(metric["Name"] for metric in directive["Metrics"])
    assert response["json"]["source"] == "fallback_model"
    assert "Fallbacks" in emitted and not emitted & {"ModelErrors", "ModelThrottles"}


def test_the_window_setting_is_bounded():
    assert RouterSettings.from_environ(ROUTER_ENV).throttle_window_ms == 500
    assert (
        RouterSettings.from_environ({**ROUTER_ENV, "ROUTER_THROTTLE_WINDOW_MS": "0"}).throttle_window_ms == 0
    )
    with pytest.raises(SettingsError, match="ROUTER_THROTTLE_WINDOW_MS"):
        RouterSettings.from_environ({**ROUTER_ENV, "ROUTER_THROTTLE_WINDOW_MS": "10001"})
