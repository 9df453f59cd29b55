"""The router's logic below the handler: deadline budgets, settings, active-model reads, the cache."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws
from router_api.bedrock import TIMEOUT_TIERS_S, ClientPool, client_config, timeout_tier
from router_api.cache import DecisionCache
from router_api.model_selection import ActiveModelSource, ServableModels, parameter_missing, powertools_reader
from router_api.service import Deadline, ModelInvoker, Router, build_router
from router_api.settings import RouterSettings, SettingsError
from router_fixtures import (
    DEFAULT_MODEL,
    DEPLOYMENT_ARN,
    FALLBACK_MODEL,
    PARAMETER_NAME,
    ROUTER_ENV,
    converse_response,
    expected_converse,
)
from routing import RoutingDecision

DEPLOYMENT_PREFIX = ROUTER_ENV["ROUTER_DEPLOYMENT_ARN_PREFIX"]
SERVABLE = ServableModels([DEFAULT_MODEL, FALLBACK_MODEL], DEPLOYMENT_PREFIX)


class Clock:
    """A manual monotonic clock in seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowModel:
    """Converse stand-ins that take `seconds` of the fake clock (at most their client's timeout), then answer or raise."""

    def __init__(self, clock: Clock, seconds: float, error: Exception | None = None) -> None:
        self.clock, self.seconds, self.error = clock, seconds, error
        self.calls: list[dict] = []
        self.configs: list = []

    def client(self, config):
        self.configs.append(config)
        timeout = config.connect_timeout + config.read_timeout
        model = self

        class Client:
            def converse(self, **params):
                model.calls.append(params)
                model.clock.now += min(model.seconds, timeout)
                if model.error or model.seconds > timeout:
                    raise model.error or RuntimeError("timed out")
                return converse_response()

        return Client()


def _router(settings, model: SlowModel, clock: Clock) -> Router:
    return Router(
        settings,
        models=ModelInvoker(settings, ClientPool(create=model.client), sleep=lambda _s: None, clock=clock),
        active_model=ActiveModelSource(
            parameter_name=None, default_model_id=settings.default_model_id, max_age_seconds=60
        ),
        cache=DecisionCache(max_entries=10, ttl_seconds=60, timer=clock),
        clock=clock,
    )


# --------------------------------------------------------------------------- deadline


def test_each_model_call_is_capped_by_the_remaining_budget(settings):
    from botocore.exceptions import ReadTimeoutError

    clock = Clock()
    settings = replace(settings, deadline_ms=2_000)
    # Both models hang until their client's timeout.
    model = SlowModel(clock, 60.0, ReadTimeoutError(endpoint_url="https://bedrock"))
    router = _router(settings, model, clock)

    (result,) = router.route(["cats"], Deadline.start(settings.deadline_ms, clock=clock))

    # Active: 2000 - 35 % kept for the fallback - 25 ms -> the 1.0 s tier; fallback: 1000 - 25 ms -> 0.75 s.
    assert [c.connect_timeout + c.read_timeout for c in model.configs] == [1.0, 0.75]
    assert [call["modelId"] for call in model.calls] == [DEFAULT_MODEL, FALLBACK_MODEL]
    assert result.source == "heuristic" and result.degraded
    assert (clock.now - 100.0) * 1000 <= settings.deadline_ms


def test_no_model_is_called_when_the_invocation_has_no_time_left(settings):
    clock = Clock()
    model = SlowModel(clock, 0.0)
    router = _router(settings, model, clock)

    (result,) = router.route(
        ["cats"], Deadline.start(settings.deadline_ms, invocation_remaining_ms=400, clock=clock)
    )

    assert model.calls == []
    assert result.source == "heuristic"
    assert [call.outcome for call in result.calls] == ["no_time", "no_time"]


def test_a_dropped_connection_is_retried_once_within_the_deadline(settings):
    from botocore.exceptions import EndpointConnectionError

    clock = Clock()
    failures = [EndpointConnectionError(endpoint_url="https://bedrock")]
    model = SlowModel(clock, 0.05)
    make_client = model.client

    def client(config):
        inner = make_client(config)

        class Flaky:
            def converse(self, **params):
                if failures:
                    model.calls.append(params)
                    raise failures.pop()
                return inner.converse(**params)

        return Flaky()

    router = Router(
        settings,
        models=ModelInvoker(settings, ClientPool(create=client), sleep=lambda _s: None, clock=clock),
        active_model=ActiveModelSource(
            parameter_name=None, default_model_id=DEFAULT_MODEL, max_age_seconds=60
        ),
        cache=DecisionCache(max_entries=10, ttl_seconds=60, timer=clock),
        clock=clock,
    )

    (result,) = router.route(["cats"], Deadline.start(settings.deadline_ms, clock=clock))

    assert (result.source, result.model) == ("model", DEFAULT_MODEL)
    assert [call["modelId"] for call in model.calls] == [DEFAULT_MODEL, DEFAULT_MODEL]
    assert [call.outcome for call in result.calls] == ["connection", "ok"]


def test_timeout_tiers_round_the_budget_down():
    assert timeout_tier(0.1) is None
    assert timeout_tier(0.25) == 0.25
    assert timeout_tier(3.55) == 3.0
    assert timeout_tier(999) == TIMEOUT_TIERS_S[-1]
    for tier in TIMEOUT_TIERS_S:
        config = client_config(tier, 10)
        assert config.connect_timeout + config.read_timeout == pytest.approx(tier)


def test_the_production_client_pool_makes_one_bedrock_client_per_tier():
    pool = ClientPool()

    client = pool.client(1.0)

    assert client.meta.service_model.service_name == "bedrock-runtime"
    assert client.meta.config.connect_timeout + client.meta.config.read_timeout == pytest.approx(1.0)
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert pool.client(1.0) is client and pool.client(2.0) is not client


def test_the_production_wiring_uses_the_settings(settings):
    router = build_router(replace(settings, cache_max_entries=0))

    assert router.settings.deadline_ms == settings.deadline_ms
    assert not router.cache.enabled


# --------------------------------------------------------------------------- Converse parameters


def test_request_metadata_matches_the_service_models_patterns(settings):
    """Stubber checks types and lengths but not patterns: check them against botocore's model."""
    shape = (
        boto3.client("bedrock-runtime", region_name="us-east-1")
        .meta.service_model.operation_model("Converse")
        .input_shape.members["requestMetadata"]
    )
    key_pattern, value_pattern = shape.key.metadata["pattern"], shape.value.metadata["pattern"]
    for role in ("active", "fallback"):
        metadata = expected_converse(settings, DEFAULT_MODEL, "q", role)["requestMetadata"]
        assert len(metadata) <= shape.metadata["max"]
        for key, value in metadata.items():
            assert re.fullmatch(key_pattern, key) and re.fullmatch(value_pattern, value)


# --------------------------------------------------------------------------- settings


def test_settings_come_from_the_environment():
    settings = RouterSettings.from_environ(
        {**ROUTER_ENV, "MODALITIES": "visual,audio,camera_angle", "ROUTER_CACHE_TTL_SECONDS": "0"}
    )

    assert settings.modalities == ("visual", "audio", "camera_angle")
    assert settings.default_model_id == DEFAULT_MODEL
    assert settings.fallback_model_id == FALLBACK_MODEL
    assert settings.active_model_parameter == PARAMETER_NAME
    assert settings.cache_ttl_seconds == 0


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"ROUTER_DEFAULT_MODEL_ID": ""}, "ROUTER_DEFAULT_MODEL_ID is required"),
        ({"ROUTER_DEADLINE_MS": "soon"}, "ROUTER_DEADLINE_MS must be an integer"),
        ({"ROUTER_DEADLINE_MS": "50"}, "ROUTER_DEADLINE_MS must be between 200 and 25000"),
        ({"MODALITIES": "visual,reasoning"}, "MODALITIES"),
        ({"ROUTER_APP_TAG": "bad|tag"}, "ROUTER_APP_TAG"),
    ],
)
def test_bad_settings_name_the_variable(override, fragment):
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        RouterSettings.from_environ({**ROUTER_ENV, **override})


def test_the_settings_read_back_what_they_write(settings):
    written = settings.to_environ()
    assert RouterSettings.from_environ(written) == settings
    assert written["ROUTER_DEPLOYMENT_ARN_PREFIX"] == ROUTER_ENV["ROUTER_DEPLOYMENT_ARN_PREFIX"]
    assert {name: written[name] for name in ROUTER_ENV} == ROUTER_ENV


def test_a_fallback_equal_to_the_default_is_not_asked_twice():
    settings = RouterSettings.from_environ({**ROUTER_ENV, "ROUTER_FALLBACK_MODEL_ID": DEFAULT_MODEL})

    assert settings.fallback_model_id is None


# --------------------------------------------------------------------------- active model


@mock_aws
def test_the_active_model_is_read_from_ssm_through_powertools():
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(
        Name=PARAMETER_NAME, Type="String", Value=json.dumps({"model_id": DEPLOYMENT_ARN, "run_id": "r1"})
    )
    source = ActiveModelSource(
        parameter_name=PARAMETER_NAME,
        default_model_id=DEFAULT_MODEL,
        max_age_seconds=60,
        servable=SERVABLE,
        read_parameter=powertools_reader(lambda: boto3.client("ssm", region_name="us-east-1")),
    )

    first = source.current()
    # Promoted again: the cached value holds for max_age (no SSM call per request).
    ssm.put_parameter(
        Name=PARAMETER_NAME, Type="String", Overwrite=True, Value=json.dumps({"model_id": None})
    )
    second = source.current()

    assert (first.model_id, first.origin, first.run_id) == (DEPLOYMENT_ARN, "parameter", "r1")
    assert second == first


@mock_aws
def test_a_missing_parameter_means_the_default_and_is_retried_after_max_age():
    clock = Clock()
    errors: list[Exception] = []
    source = ActiveModelSource(
        parameter_name=PARAMETER_NAME,
        default_model_id=DEFAULT_MODEL,
        max_age_seconds=60,
        servable=SERVABLE,
        read_parameter=powertools_reader(lambda: boto3.client("ssm", region_name="us-east-1")),
        clock=clock,
        on_error=errors.append,
    )

    first = source.current()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=PARAMETER_NAME, Type="String", Value=json.dumps({"model_id": DEPLOYMENT_ARN})
    )
    still = source.current()
    clock.now += 61
    later = source.current()

    # No stack creates the parameter (the first promotion does): missing is the normal "nothing
    # promoted yet", not a read error, and it is not asked for again on every request.
    assert (first.model_id, first.origin) == (DEFAULT_MODEL, "default")
    assert errors == []
    assert (still.model_id, still.origin) == (DEFAULT_MODEL, "default")
    assert (later.model_id, later.origin) == (DEPLOYMENT_ARN, "parameter")


def test_an_ssm_outage_keeps_the_last_model_read():
    clock = Clock()
    values = [json.dumps({"model_id": DEPLOYMENT_ARN})]

    def read(_name, _max_age):
        if not values:
            raise TimeoutError("ssm")
        return values.pop()

    source = ActiveModelSource(parameter_name=PARAMETER_NAME, default_model_id=DEFAULT_MODEL, max_age_seconds=60,
                               servable=SERVABLE, read_parameter=read, clock=clock)  # fmt: skip

    assert source.current().model_id == DEPLOYMENT_ARN
    stale = source.current()

    assert (stale.model_id, stale.origin) == (DEPLOYMENT_ARN, "stale")


def test_the_parameter_value_is_parsed_once_per_change(monkeypatch):
    import router_api.model_selection as model_selection

    parsed: list[str] = []
    parse = model_selection.parse_active_model
    monkeypatch.setattr(model_selection, "parse_active_model", lambda raw: parsed.append(raw) or parse(raw))
    value = {"raw": json.dumps({"model_id": DEPLOYMENT_ARN})}
    source = ActiveModelSource(parameter_name=PARAMETER_NAME, default_model_id=DEFAULT_MODEL, max_age_seconds=60,
                               servable=SERVABLE, read_parameter=lambda _n, _a: value["raw"])  # fmt: skip

    first, second = source.current(), source.current()
    value["raw"] = json.dumps({"model_id": None})
    rolled_back = source.current()

    assert first.model_id == second.model_id == DEPLOYMENT_ARN
    assert (rolled_back.model_id, rolled_back.origin) == (DEFAULT_MODEL, "default")
    assert len(parsed) == 2  # the unchanged value (Powertools' cached string) was not parsed again


@pytest.mark.parametrize(
    "value", ["", "not json", "[]", json.dumps({"model_id": ""}), json.dumps({"model_id": None})]
)
def test_a_parameter_without_a_model_means_the_default(value):
    source = ActiveModelSource(parameter_name=PARAMETER_NAME, default_model_id=DEFAULT_MODEL, max_age_seconds=60,
                               servable=SERVABLE, read_parameter=lambda _n, _a: value)  # fmt: skip

    assert (source.current().model_id, source.current().origin) == (DEFAULT_MODEL, "default")


@pytest.mark.parametrize(
    "model_id",
    [
        DEPLOYMENT_ARN.replace("123456789012", "210987654321"),  # another account's deployment
        DEPLOYMENT_ARN.replace("us-east-1", "us-west-2"),  # another region's
        "amazon.nova-pro-v1:0",  # a foundation model this deployment does not configure
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef123456",
        DEPLOYMENT_ARN + "x",  # not a deployment id
        "x" * 5_000,
    ],
)
def test_a_model_this_router_may_not_serve_is_refused_for_the_default(model_id):
    refused: list[str] = []
    source = ActiveModelSource(parameter_name=PARAMETER_NAME, default_model_id=DEFAULT_MODEL, max_age_seconds=60,
                               servable=SERVABLE, on_refused=refused.append,
                               read_parameter=lambda _n, _a: json.dumps({"model_id": model_id, "run_id": "r9"}))  # fmt: skip

    first, second = source.current(), source.current()

    assert (first.model_id, first.origin, first.run_id) == (DEFAULT_MODEL, "refused", "r9")
    assert second == first
    assert refused == [model_id]  # reported once per value, not per request


@pytest.mark.parametrize("model_id", [DEFAULT_MODEL, FALLBACK_MODEL, DEPLOYMENT_ARN])
def test_configured_models_and_this_accounts_deployments_are_served(model_id):
    source = ActiveModelSource(parameter_name=PARAMETER_NAME, default_model_id=DEFAULT_MODEL, max_age_seconds=60,
                               servable=SERVABLE, read_parameter=lambda _n, _a: json.dumps({"model_id": model_id}))  # fmt: skip

    assert (source.current().model_id, source.current().origin) == (model_id, "parameter")


def test_without_a_deployment_prefix_no_deployment_is_served(settings):
    source = ActiveModelSource.for_settings(
        replace(settings, deployment_arn_prefix=None),
        read_parameter=lambda _n, _a: json.dumps({"model_id": DEPLOYMENT_ARN}),
    )

    assert source.current().origin == "refused"


def test_the_router_asks_the_default_when_the_parameter_names_a_foreign_deployment(
    make_router, bedrock, settings
):
    foreign = DEPLOYMENT_ARN.replace("123456789012", "210987654321")
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "cats", "active"))
    router = make_router(parameter=json.dumps({"model_id": foreign}))

    (result,) = router.route(["cats"], Deadline.start(settings.deadline_ms))

    assert (result.model, result.source, result.degraded) == (DEFAULT_MODEL, "model", False)


def test_a_promoted_model_bedrock_denies_is_replaced_by_the_default(make_router, bedrock, settings):
    # IAM's tag condition: a deployment of this account the pipeline did not make is AccessDenied.
    bedrock.fail(expected_converse(settings, DEPLOYMENT_ARN, "cats", "active"), "AccessDeniedException", 403)
    bedrock.answer(expected_converse(settings, FALLBACK_MODEL, "cats", "fallback"))
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, "dogs", "active"))
    router = make_router(parameter=json.dumps({"model_id": DEPLOYMENT_ARN, "run_id": "r1"}))

    (first,) = router.route(["cats"], Deadline.start(settings.deadline_ms))
    (second,) = router.route(["dogs"], Deadline.start(settings.deadline_ms))

    assert (first.model, first.degraded) == (FALLBACK_MODEL, True)
    assert (second.model, second.source, second.degraded) == (DEFAULT_MODEL, "model", False)
    bedrock.stubber.assert_no_pending_responses()


def test_a_missing_parameter_is_recognised_through_powertools_wrapping():
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.stub import Stubber

    client = boto3.client("ssm", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_parameter",
            "ParameterNotFound",
            expected_params={"Name": PARAMETER_NAME, "WithDecryption": False},
        )
        stub.add_client_error(
            "get_parameter",
            "AccessDeniedException",
            expected_params={"Name": PARAMETER_NAME, "WithDecryption": False},
        )
        read = powertools_reader(lambda: client)
        errors = []
        for _ in range(2):
            try:
                read(PARAMETER_NAME, 0)
            except GetParameterError as exc:
                errors.append(exc)
    assert [parameter_missing(error) for error in errors] == [True, False]


# --------------------------------------------------------------------------- cache


def test_the_cache_expires_entries_and_stays_bounded():
    clock = Clock()
    decision = RoutingDecision.from_weights({"visual": 1.0, "audio": 0, "transcription": 0, "metadata": 0})
    cache = DecisionCache(max_entries=2, ttl_seconds=10, timer=clock)

    for query in ("a", "b", "c"):
        cache.put(query, DEFAULT_MODEL, decision)
    assert len(cache) == 2 and cache.get("a", DEFAULT_MODEL) is None
    assert cache.get("c", DEFAULT_MODEL) == decision
    assert cache.get("c", FALLBACK_MODEL) is None
    clock.now += 11
    assert cache.get("c", DEFAULT_MODEL) is None


@pytest.mark.parametrize(("entries", "ttl"), [(0, 60), (100, 0)])
def test_a_cache_without_size_or_ttl_stores_nothing(entries, ttl):
    cache = DecisionCache(max_entries=entries, ttl_seconds=ttl)
    cache.put("a", DEFAULT_MODEL, RoutingDecision.from_weights({"visual": 1.0}))

    assert not cache.enabled and cache.get("a", DEFAULT_MODEL) is None
