"""The router Lambda through API Gateway events: contract, bad input, the fallback chain, the cache."""

from __future__ import annotations

import base64
import json
import math
import os

import pytest
from router_fixtures import (
    DEFAULT_MODEL,
    DEPLOYMENT_ARN,
    FALLBACK_MODEL,
    api_event,
    expected_converse,
)

QUERY = "red sports car drifting at sunset"
WEIGHTS = ("visual", "audio", "transcription", "metadata")


def assert_decision_shape(answer: dict) -> None:
    assert set(answer) == {*WEIGHTS, "reasoning", "model", "source", "degraded", "latency_ms"}
    assert all(0.0 <= answer[name] <= 1.0 for name in WEIGHTS)
    assert math.isclose(sum(answer[name] for name in WEIGHTS), 1.0, abs_tol=1e-9)
    assert isinstance(answer["reasoning"], str)
    assert isinstance(answer["degraded"], bool)
    assert isinstance(answer["latency_ms"], (int, float)) and answer["latency_ms"] >= 0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("event", "status", "fragment"),
    [
        (api_event(raw='{"query": "cats"'), 400, "invalid JSON"),
        (api_event(raw="not json"), 400, "invalid JSON"),
        (api_event(raw=""), 400, "body is empty"),
        (api_event(body=None), 400, "body is empty"),
        (api_event(body=["cats"]), 400, "must be a JSON object"),
        (api_event(body={}), 400, "'query' is required"),
        (api_event(body={"query": None}), 400, "'query' is required"),
        (api_event(body={"query": 42}), 400, "'query' must be a string, got a number"),
        (api_event(body={"query": True}), 400, "'query' must be a string, got a boolean"),
        (api_event(body={"query": ["cats"]}), 400, "'query' must be a string, got an array"),
        (api_event(body={"query": ""}), 400, "'query' is blank"),
        (api_event(body={"query": " \t\n "}), 400, "'query' is blank"),
        (api_event(body={"query": "x" * 1001}), 400, "'query' is 1001 characters long; the limit is 1000"),
        (api_event(body={"query": "\ufeff\u200b\x00"}), 400, "'query' is blank: it has no visible character"),
        (api_event(body={"query": "cats", "model": "x"}), 400, "unknown field(s) 'model'"),
        (api_event(raw="!!!", base64=True), 400, "base64"),
        (api_event("/route/batch", body={"query": "cats"}), 400, "unknown field(s) 'query'"),
        (api_event("/route/batch", body={}), 400, "'queries' is required"),
        (api_event("/route/batch", body={"queries": "cats"}), 400, "must be an array of strings"),
        (api_event("/route/batch", body={"queries": []}), 400, "'queries' is empty"),
        (api_event("/route/batch", body={"queries": ["q"] * 26}), 400, "has 26 items; the limit is 25"),
        (api_event("/route/batch", body={"queries": ["cats", 7]}), 400, "'queries[1]' must be a string"),
        (api_event("/route/batch", body={"queries": ["cats", "  "]}), 400, "'queries[1]' is blank"),
        (api_event("/route/batch", body={"queries": ["x" * 1001]}), 400, "'queries[0]' is 1001 characters"),
        (api_event("/nope", resource="/{proxy+}", body={"query": "cats"}), 404, "no such resource: /nope"),
        (api_event("/", body={"query": "cats"}), 404, "no such resource: /"),
        (api_event("/route", method="GET"), 405, "method GET is not allowed on /route"),
        (api_event("/route/batch", method="PUT", body={"queries": ["cats"]}), 405, "method PUT"),
    ],
    ids=lambda value: value if isinstance(value, (int, str)) else None,
)
def test_bad_requests_get_4xx_with_a_message(invoke, event, status, fragment):
    response = invoke(event)

    assert response["statusCode"] == status
    assert response["headers"]["Content-Type"] == "application/json"
    assert fragment in response["json"]["message"]
    assert response["json"]["request_id"] == event["requestContext"]["requestId"]
    if status == 405:
        assert response["headers"]["Allow"] == "POST"


def test_a_query_at_the_limit_is_accepted_and_routed_with_its_ends_trimmed(
    invoke, make_router, bedrock, settings
):
    query = "y" * 994
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, query, "active"))

    response = invoke(api_event(body={"query": f" \ufeff {query} \u200b "}), make_router())

    assert response["statusCode"] == 200


def test_base64_encoded_bodies_are_decoded(invoke, make_router, bedrock, settings):
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "cats", "active"))
    body = base64.b64encode(json.dumps({"query": "cats"}).encode()).decode()

    response = invoke(api_event(raw=body, base64=True), make_router())

    assert response["statusCode"] == 200


# --------------------------------------------------------------------------- the contract


def test_route_returns_the_flat_decision_from_the_default_model(invoke, make_router, bedrock, settings):
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))

    response = invoke(api_event(body={"query": f"  {QUERY} "}), make_router())

    assert response["statusCode"] == 200
    answer = response["json"]
    assert_decision_shape(answer)
    assert answer["visual"] == 0.7
    assert answer["reasoning"] == "things seen"
    assert (answer["model"], answer["source"], answer["degraded"]) == (DEFAULT_MODEL, "model", False)
    bedrock.stubber.assert_no_pending_responses()


def test_the_promoted_deployment_is_invoked_by_its_arn(invoke, make_router, bedrock, settings):
    parameter = json.dumps(
        {"model_id": DEPLOYMENT_ARN, "run_id": "run-1", "promoted_at": "2026-01-01T00:00:00+00:00"}
    )
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, QUERY, "active"))

    answer = invoke(api_event(body={"query": QUERY}), make_router(parameter=parameter))["json"]

    assert (answer["model"], answer["source"], answer["degraded"]) == (DEPLOYMENT_ARN, "model", False)


def test_model_call_timeouts_fit_inside_the_deadline(invoke, make_router, bedrock, settings):
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))

    invoke(api_event(body={"query": QUERY}), make_router())

    (config,) = bedrock.configs
    # The active model leaves a share of the 6 s deadline to the fallback model.
    assert config.connect_timeout + config.read_timeout <= settings.deadline_ms / 1000 * 0.65
    assert config.retries["total_max_attempts"] == 1


# --------------------------------------------------------------------------- the fallback chain


def _degraded_to_fallback(invoke, make_router, bedrock, settings) -> dict:
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, QUERY, "fallback"))
    response = invoke(api_event(body={"query": QUERY}), make_router())
    assert response["statusCode"] == 200
    bedrock.stubber.assert_no_pending_responses()
    answer = response["json"]
    assert_decision_shape(answer)
    assert (answer["model"], answer["source"], answer["degraded"]) == (FALLBACK_MODEL, "fallback_model", True)
    return answer


def test_throttling_goes_straight_to_the_fallback_model(invoke, make_router, bedrock, settings):
    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), "ThrottlingException", 429)

    _degraded_to_fallback(invoke, make_router, bedrock, settings)


def test_a_timeout_goes_to_the_fallback_model(invoke, make_router, bedrock, settings):
    bedrock.time_out(DEFAULT_MODEL)

    _degraded_to_fallback(invoke, make_router, bedrock, settings)


def test_a_model_not_ready_is_retried_once_then_falls_back(invoke, make_router, bedrock, settings):
    active = expected_converse(settings, DEFAULT_MODEL, QUERY, "active")
    bedrock.fail(active, "ModelNotReadyException", 429)
    bedrock.fail(active, "ModelNotReadyException", 429)

    _degraded_to_fallback(invoke, make_router, bedrock, settings)


def test_a_model_not_ready_that_recovers_on_retry_is_not_degraded(invoke, make_router, bedrock, settings):
    active = expected_converse(settings, DEFAULT_MODEL, QUERY, "active")
    bedrock.fail(active, "ModelNotReadyException", 429)
    bedrock.answer(active)

    answer = invoke(api_event(body={"query": QUERY}), make_router())["json"]

    assert (answer["source"], answer["degraded"]) == ("model", False)
    bedrock.stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status"), [("ServiceUnavailableException", 503), ("SomeNewServerError", 500)]
)
def test_a_server_error_is_retried_once_on_the_same_model(
    invoke, make_router, bedrock, settings, code, status
):
    active = expected_converse(settings, DEFAULT_MODEL, QUERY, "active")
    bedrock.fail(active, code, status)
    bedrock.answer(active)

    answer = invoke(api_event(body={"query": QUERY}), make_router())["json"]

    assert (answer["source"], answer["degraded"]) == ("model", False)
    bedrock.stubber.assert_no_pending_responses()


def test_a_malformed_answer_goes_to_the_fallback_model(invoke, make_router, bedrock, settings):
    bedrock.answer(
        expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), text="Mostly visual, I would say."
    )

    _degraded_to_fallback(invoke, make_router, bedrock, settings)


def test_an_answer_cut_by_max_tokens_goes_to_the_fallback_model(invoke, make_router, bedrock, settings):
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"),
                   text='{"visual": 0.7, "audio": 0.1, "transcr', stop_reason="max_tokens")  # fmt: skip

    _degraded_to_fallback(invoke, make_router, bedrock, settings)


def test_when_both_models_fail_the_heuristic_answers_with_200(invoke, make_router, bedrock, settings):
    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), "ThrottlingException", 429)
    bedrock.fail(expected_converse(settings, FALLBACK_MODEL, QUERY, "fallback"), "AccessDeniedException", 403)

    response = invoke(api_event(body={"query": QUERY}), make_router())

    assert response["statusCode"] == 200
    answer = response["json"]
    assert_decision_shape(answer)
    assert (answer["model"], answer["source"], answer["degraded"]) == ("heuristic", "heuristic", True)
    assert answer["reasoning"]
    bedrock.stubber.assert_no_pending_responses()


def test_a_failing_promoted_model_falls_back_to_the_fallback_model(invoke, make_router, bedrock, settings):
    parameter = json.dumps({"model_id": DEPLOYMENT_ARN})
    bedrock.fail(
        expected_converse(settings, DEPLOYMENT_ARN, QUERY, "active"), "ResourceNotFoundException", 404
    )

    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, QUERY, "fallback"))
    answer = invoke(api_event(body={"query": QUERY}), make_router(parameter=parameter))["json"]

    assert (answer["model"], answer["source"], answer["degraded"]) == (FALLBACK_MODEL, "fallback_model", True)
    bedrock.stubber.assert_no_pending_responses()


def test_an_unreadable_parameter_serves_the_default_model(invoke, make_router, bedrock, settings):
    def broken(_name: str, _max_age: int) -> str:
        raise RuntimeError("ssm is down")

    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))

    answer = invoke(api_event(body={"query": QUERY}), make_router(read_parameter=broken))["json"]

    assert (answer["model"], answer["source"], answer["degraded"]) == (DEFAULT_MODEL, "model", False)


# --------------------------------------------------------------------------- the cache


def test_a_cache_hit_skips_bedrock(invoke, make_router, bedrock, settings):
    router = make_router()
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))
    first = invoke(api_event(body={"query": QUERY}), router)["json"]

    # Same query after normalisation (case, spacing): no response is stubbed, so a Bedrock
    # call would fail and the answer would come from the fallback chain instead.
    second = invoke(api_event(body={"query": "  Red SPORTS car   drifting at sunset"}), router)["json"]

    assert first["source"] == "model"
    assert (second["source"], second["model"], second["degraded"]) == ("cache", DEFAULT_MODEL, False)
    assert {k: second[k] for k in (*WEIGHTS, "reasoning")} == {k: first[k] for k in (*WEIGHTS, "reasoning")}
    bedrock.stubber.assert_no_pending_responses()


def test_degraded_answers_are_not_cached(invoke, make_router, bedrock, settings):
    from dataclasses import replace

    # No throttle window (tests/api/test_router_throttle_window.py): the second request asks the model again.
    router = make_router(settings=replace(settings, throttle_window_ms=0))
    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), "ThrottlingException", 429)
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, QUERY, "fallback"))
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))

    first = invoke(api_event(body={"query": QUERY}), router)["json"]
    second = invoke(api_event(body={"query": QUERY}), router)["json"]

    assert (first["source"], second["source"]) == ("fallback_model", "model")
    bedrock.stubber.assert_no_pending_responses()


def test_a_promotion_does_not_serve_the_previous_models_cached_answers(
    invoke, make_router, bedrock, settings
):
    parameter = {"value": json.dumps({"model_id": None})}
    router = make_router(read_parameter=lambda _name, _age: parameter["value"])
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, QUERY, "active"))

    before = invoke(api_event(body={"query": QUERY}), router)["json"]
    parameter["value"] = json.dumps({"model_id": DEPLOYMENT_ARN})
    after = invoke(api_event(body={"query": QUERY}), router)["json"]

    assert (before["model"], after["model"], after["source"]) == (DEFAULT_MODEL, DEPLOYMENT_ARN, "model")


# --------------------------------------------------------------------------- batch


def test_batch_answers_in_order_and_degrades_only_the_failing_item(invoke, make_router, bedrock, settings):
    from dataclasses import replace

    # Stubber answers in order: one worker keeps it. Without the throttle window, a throttle degrades only its
    # own item (with it, later items skip the throttled model: tests/api/test_router_throttle_window.py).
    serial = replace(settings, batch_concurrency=1, throttle_window_ms=0)
    queries = ["dog barking at night", "interview about climate", "sunset over mountains"]
    bedrock.answer(expected_converse(serial, DEFAULT_MODEL, queries[0], "active"))
    bedrock.fail(expected_converse(serial, DEFAULT_MODEL, queries[1], "active"), "ThrottlingException", 429)
    bedrock.fail(
        expected_converse(serial, FALLBACK_MODEL, queries[1], "fallback"), "ThrottlingException", 429
    )
    bedrock.answer(expected_converse(serial, DEFAULT_MODEL, queries[2], "active"),
                   text='{"visual": 0.9, "audio": 0.0, "transcription": 0.0, "metadata": 0.1, "reasoning": "r"}')  # fmt: skip

    response = invoke(api_event("/route/batch", body={"queries": queries}), make_router(settings=serial))

    assert response["statusCode"] == 200
    results = response["json"]["results"]
    assert [r["source"] for r in results] == ["model", "heuristic", "model"]
    assert [r["degraded"] for r in results] == [False, True, False]
    assert results[2]["visual"] == 0.9
    for result in results:
        assert_decision_shape(result)
    bedrock.stubber.assert_no_pending_responses()


def test_batch_routes_repeated_queries_once(invoke, make_router, bedrock, settings):
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "cats", "active"))

    response = invoke(api_event("/route/batch", body={"queries": ["cats", "CATS", " cats "]}), make_router())

    results = response["json"]["results"]
    assert len(results) == 3 and len({json.dumps(r, sort_keys=True) for r in results}) == 1
    bedrock.stubber.assert_no_pending_responses()


def test_batch_accepts_the_configured_maximum(invoke, make_router, bedrock, settings):
    queries = [f"query number {index}" for index in range(settings.batch_max_queries)]
    # Threads make the order of calls unpredictable: answer every call with the same text.
    for _ in queries:
        bedrock.stubber.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": '{"visual": 1, "audio": 0, "transcription": 0, "metadata": 0}'}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        })  # fmt: skip

    response = invoke(api_event("/route/batch", body={"queries": queries}), make_router())

    assert response["statusCode"] == 200
    assert [r["source"] for r in response["json"]["results"]] == ["model"] * len(queries)


# --------------------------------------------------------------------------- telemetry


def test_metrics_are_emitted_with_the_names_the_alarms_use(invoke, make_router, bedrock, settings, capsys):
    from stacks.constructs.router_monitoring import ROUTER_METRICS

    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), "ThrottlingException", 429)
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, QUERY, "fallback"), text="no json here")
    capsys.readouterr()

    invoke(api_event(body={"query": QUERY}), make_router())

    emitted: dict[str, list] = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        if "_aws" in record:
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    emitted[metric["Name"]] = record[metric["Name"]]
    assert emitted["RoutedQueries"] == [1.0]
    assert emitted["Fallbacks"] == [1.0]
    assert emitted["HeuristicAnswers"] == [1.0]
    assert emitted["ParseFailures"] == [1.0]
    assert emitted["ModelThrottles"] == [1.0]
    assert emitted["CacheMisses"] == [1.0]
    assert {"RouteLatency", "ModelLatency"} <= set(emitted)
    # The dashboard and alarms read exactly the names the handler emits.
    from router_api.telemetry import METRIC_NAMES

    assert set(ROUTER_METRICS) == set(METRIC_NAMES)
    # The rollout alarms read only names the router emits.
    from stacks.constructs.rollout_control import ROLLOUT_METRICS

    assert set(ROLLOUT_METRICS) <= set(METRIC_NAMES)


def test_a_bug_in_the_router_is_a_json_500_not_a_crashed_invocation(invoke):
    class BrokenRouter:
        def route(self, queries, deadline):
            raise KeyError("bug")

    response = invoke(api_event(body={"query": QUERY}), BrokenRouter())

    assert response["statusCode"] == 500
    assert response["json"]["message"] == "internal error"


def test_the_handler_import_stays_light() -> None:
    """The search engine waits for the router's cold start: no X-Ray SDK, no pydantic at import, and tier-0's
    artifact code (routing.local_model, routing.layout) only once its loading thread needs it, and the shared
    cache's code only when a table is configured (it is not in ROUTER_ENV)."""
    import subprocess
    import sys

    from router_fixtures import ROUTER_DIR, ROUTER_ENV

    code = (
        "import sys; import handler; "
        "heavy = sorted(m for m in ('aws_xray_sdk', 'pydantic', 'routing.local_model', 'routing.layout', "
        "'router_api.shared_cache') "
        "if m in sys.modules); print(heavy)"
    )
    env = {
        **os.environ,
        **ROUTER_ENV,
        "PYTHONPATH": os.pathsep.join([str(ROUTER_DIR), str(ROUTER_DIR.parent)]),
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# --------------------------------------------------------------------------- hostile model text


@pytest.mark.parametrize("path", ["/route", "/route/batch"])
def test_a_lone_surrogate_in_the_answer_never_reaches_the_body_or_the_cache(
    invoke, make_router, bedrock, settings, path
):
    """The runtime marshals results with ensure_ascii=False, then UTF-8: a lone surrogate would be a 502."""
    poisoned = (
        '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "seen \\ud800"}'
    )
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), text=poisoned)
    body = {"query": QUERY} if path == "/route" else {"queries": [QUERY]}
    router = make_router()

    for source in ("model", "cache"):
        response = invoke(api_event(path, body=body), router)
        json.dumps(
            {key: response[key] for key in ("statusCode", "headers", "body")}, ensure_ascii=False
        ).encode("utf-8")
        answer = response["json"] if path == "/route" else response["json"]["results"][0]
        assert (answer["source"], answer["reasoning"]) == (source, "seen \ufffd")
    bedrock.stubber.assert_no_pending_responses()
