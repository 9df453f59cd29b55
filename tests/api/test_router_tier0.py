"""Tier-0 in the router: the promoted run's local model, loaded from S3 (moto) in the background.

Artifacts are built with routing.local_model.LocalModel directly: rows only for the features of a
few "known" queries, so those are confident and any other query (words never seen) is not.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from router_api.cache import DecisionCache
from router_api.local_artifact import RUN_ID
from router_api.local_tier import LocalTier, s3_fetcher
from router_api.model_selection import ActiveModelSource
from router_api.service import Deadline
from router_api.settings import RouterSettings, SettingsError
from router_fixtures import DEPLOYMENT_ARN, FALLBACK_MODEL, ROUTER_ENV, api_event, expected_converse
from routing.active_model import LocalModelRef
from routing.layout import RunLayout, s3_uri
from routing.local_model import DEFAULT_BUCKETS, DEFAULT_NGRAMS, LocalModel, feature_buckets

BUCKET = "vsr-test-data"
RUN = "run-a"
MODALITIES = ("visual", "audio", "transcription", "metadata")
KNOWN = {"interview with the mayor": "transcription", "goal replay slow motion": "visual"}
UNKNOWN = "zebra quartet xylophone"  # no word the model saw: confidence 0


def tier0_model(known: dict[str, str] = KNOWN, run_id: str = RUN) -> LocalModel:
    rows, support = {}, {}
    for query, modality in known.items():
        for bucket in feature_buckets(query):
            rows[bucket] = tuple(4.0 if name == modality else 0.0 for name in MODALITIES)
            support[bucket] = 50
    return LocalModel(
        MODALITIES, DEFAULT_BUCKETS, DEFAULT_NGRAMS, (0.0,) * 4, rows, support, 5, {"run_id": run_id}
    )


def put_artifact(s3, body: bytes, run_id: str = RUN, threshold: float = 0.5) -> LocalModelRef:
    key = RunLayout(run_id).local_model_key
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return LocalModelRef(s3_uri(BUCKET, key), threshold, hashlib.sha256(body).hexdigest())


def parameter(ref: LocalModelRef | None, run_id: str = RUN) -> str:
    value = {"model_id": DEPLOYMENT_ARN, "run_id": run_id}
    if ref is not None:
        value["local_model"] = ref.to_dict()
    return json.dumps(value)


class Errors(list):
    def __call__(self, uri: str, error: Exception) -> None:
        self.append((uri, error))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def errors() -> Errors:
    return Errors()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tier(s3, errors, clock) -> Iterator[LocalTier]:
    tier = LocalTier(bucket=BUCKET, modalities=MODALITIES, retry_after_seconds=60, clock=clock, on_error=errors,
                     fetch=s3_fetcher(lambda: boto3.client("s3", region_name="us-east-1")))  # fmt: skip
    yield tier
    assert tier.join(5)  # no load outlives moto


def route(router, *queries: str):
    return router.route(list(queries), Deadline.start(router.settings.deadline_ms))


def loaded_router(make_router, tier: LocalTier, ref: LocalModelRef | None):
    """A router whose tier-0 model has been loaded: the first request starts the load, then it is waited for."""
    router = make_router(parameter=parameter(ref), local=tier)
    router.local.select(ref)
    assert tier.join(5)
    return router


# --------------------------------------------------------------------------- the chain


def test_a_confident_query_is_answered_by_tier0_with_no_model_call(make_router, tier, s3, bedrock, errors):
    ref = put_artifact(s3, tier0_model().to_json().encode())
    router = loaded_router(make_router, tier, ref)

    (result,) = route(router, "Interview with the MAYOR")

    assert (result.source, result.model, result.degraded) == ("local", f"local:{RUN}", False)
    assert result.decision.weights["transcription"] > 0.9
    assert result.calls == ()
    bedrock.stubber.assert_no_pending_responses()
    assert len(router.cache) == 0  # a tier-0 answer costs microseconds: it is not cached
    assert errors == []


def test_an_unconfident_query_goes_to_the_active_model(make_router, tier, s3, bedrock, settings):
    ref = put_artifact(s3, tier0_model().to_json().encode())
    router = loaded_router(make_router, tier, ref)
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, UNKNOWN, "active"))

    (result,) = route(router, UNKNOWN)

    assert (result.source, result.model, result.degraded) == ("model", DEPLOYMENT_ARN, False)
    bedrock.stubber.assert_no_pending_responses()


def test_when_the_models_fail_tier0_answers_before_the_heuristic_whatever_its_confidence(
    make_router, tier, s3, bedrock, settings
):
    ref = put_artifact(s3, tier0_model().to_json().encode())
    router = loaded_router(make_router, tier, ref)
    bedrock.fail(expected_converse(settings, DEPLOYMENT_ARN, UNKNOWN, "active"), "ThrottlingException", 429)
    bedrock.fail(
        expected_converse(settings, FALLBACK_MODEL, UNKNOWN, "fallback"), "InternalServerException", 500
    )
    bedrock.fail(
        expected_converse(settings, FALLBACK_MODEL, UNKNOWN, "fallback"), "InternalServerException", 500
    )

    (result,) = route(router, UNKNOWN)

    assert (result.source, result.model, result.degraded) == ("local", f"local:{RUN}", True)
    # Throttling is not retried (it sheds to the next tier at once); the fallback's 500 is, once.
    assert [(call.role, call.outcome) for call in result.calls] == [
        ("active", "throttled"), ("fallback", "unavailable"), ("fallback", "unavailable"),
    ]  # fmt: skip
    bedrock.stubber.assert_no_pending_responses()


def test_a_batch_mixes_tier0_and_model_answers_in_order(make_router, tier, s3, bedrock, settings):
    ref = put_artifact(s3, tier0_model().to_json().encode())
    router = loaded_router(make_router, tier, ref)
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, UNKNOWN, "active"))

    results = route(router, "goal replay slow motion", UNKNOWN, "interview with the mayor")

    assert [r.source for r in results] == ["local", "model", "local"]
    assert results[0].decision.weights["visual"] > 0.9


def test_a_value_without_a_tier0_model_routes_as_before(make_router, tier, bedrock, settings):
    router = make_router(parameter=parameter(None), local=tier)
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, "interview with the mayor", "active"))

    (result,) = route(router, "interview with the mayor")

    assert result.source == "model"
    assert tier.join(1) and tier.loaded == frozenset()


# --------------------------------------------------------------------------- loading


def test_no_request_waits_for_the_artifact(make_router, bedrock, settings, errors):
    body = tier0_model().to_json().encode()
    ref = LocalModelRef(s3_uri(BUCKET, RunLayout(RUN).local_model_key), 0.5, hashlib.sha256(body).hexdigest())
    started, release = threading.Event(), threading.Event()

    def slow_fetch(bucket: str, key: str) -> bytes:
        started.set()
        release.wait(10)
        return body

    tier = LocalTier(
        bucket=BUCKET, modalities=MODALITIES, retry_after_seconds=60, fetch=slow_fetch, on_error=errors
    )
    router = make_router(parameter=parameter(ref), local=tier)
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, "interview with the mayor", "active"))
    try:
        (first,) = route(router, "interview with the mayor")
        # The load is under way and blocked, and the request was answered by the model meanwhile.
        assert started.wait(5) and not release.is_set()
        assert first.source == "model"
    finally:
        release.set()
    assert tier.join(5)

    (second,) = route(router, "goal replay slow motion")  # (the first query is in the cache now)

    assert second.source == "local" and errors == []


def _corrupt(body: bytes) -> tuple[bytes, str]:
    bad = body.replace(b'"format":"vsr-local-model/1"', b'"format":"vsr-local-model/9"')
    return bad, hashlib.sha256(bad).hexdigest()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [("missing", "NoSuchKey"), ("sha_mismatch", "sha256 mismatch"), ("corrupt", "not a usable tier-0 artifact"),
     ("modalities", "trained for modalities"), ("no_sha", "no sha256"), ("other_bucket", "not in the data bucket"),
     ("other_key", "is not a run's runs/*/local-model/model.json")],
)  # fmt: skip
def test_an_unusable_artifact_leaves_tier0_off_with_one_error_until_the_retry(
    make_router, tier, s3, bedrock, settings, errors, clock, case, fragment
):
    body = tier0_model().to_json().encode()
    key = RunLayout(RUN).local_model_key
    ref = put_artifact(s3, body)
    if case == "missing":
        s3.delete_object(Bucket=BUCKET, Key=key)
    elif case == "sha_mismatch":
        ref = LocalModelRef(ref.s3_uri, ref.threshold, "0" * 64)
    elif case == "corrupt":
        bad, digest = _corrupt(body)
        s3.put_object(Bucket=BUCKET, Key=key, Body=bad)
        ref = LocalModelRef(ref.s3_uri, ref.threshold, digest)
    elif case == "modalities":
        other = LocalModel(("visual", "audio"), 16, (1,), (0.0, 0.0), {}, {}, 1, {})
        ref = put_artifact(s3, other.to_json().encode())
    elif case == "no_sha":
        ref = LocalModelRef(ref.s3_uri, ref.threshold, None)
    elif case == "other_bucket":
        ref = LocalModelRef(s3_uri("someone-elses-bucket", key), ref.threshold, ref.sha256)
    elif case == "other_key":
        ref = LocalModelRef(s3_uri(BUCKET, "runs/run-a/report/report.json"), ref.threshold, ref.sha256)
    no_cache = DecisionCache(max_entries=0, ttl_seconds=0)
    router = make_router(parameter=parameter(ref), local=tier, cache=no_cache)
    query = "interview with the mayor"
    for _ in range(3):
        bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, query, "active"))

    results = []
    for _ in range(3):  # the first starts the load, the second reports its failure, the third sees none
        results.append(route(router, query)[0])
        assert tier.join(5)

    assert [r.source for r in results] == ["model"] * 3  # requests unaffected
    assert len(errors) == 1 and fragment in str(errors[0][1]), errors
    assert errors[0][0] == ascii(ref.s3_uri)
    assert tier.loaded == frozenset()
    # After the parameter's max age it is tried again (one more error, still no tier-0).
    clock.now += 61
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, query, "active"))
    route(router, query)
    tier.join(5)
    bedrock.answer(expected_converse(settings, DEPLOYMENT_ARN, query, "active"))
    assert route(router, query)[0].source == "model"
    assert len(errors) == 2


def test_a_parameter_change_swaps_the_tier0_model_and_forgets_the_old_one(make_router, tier, s3, settings):
    ref_a = put_artifact(s3, tier0_model(run_id="run-a").to_json().encode(), run_id="run-a")
    ref_b = put_artifact(
        s3, tier0_model({"cooking show recipe": "audio"}, "run-b").to_json().encode(), "run-b"
    )
    value = {"raw": parameter(ref_a, "run-a")}
    source = ActiveModelSource.for_settings(settings, read_parameter=lambda _n, _a: value["raw"])
    router = make_router(local=tier)
    router._active = source
    route(router, "interview with the mayor")
    tier.join(5)
    assert route(router, "interview with the mayor")[0].model == "local:run-a"

    value["raw"] = parameter(ref_b, "run-b")
    route(router, "cooking show recipe")
    tier.join(5)
    (result,) = route(router, "cooking show recipe")

    assert (result.source, result.model) == ("local", "local:run-b")
    assert tier.loaded == frozenset({ref_b})


def test_select_keeps_the_active_and_the_candidate_model_only(tier, s3):
    refs = [
        put_artifact(s3, tier0_model(run_id=run).to_json().encode(), run_id=run) for run in ("a1", "b2", "c3")
    ]
    tier.select(refs[0], refs[1])
    tier.join(5)
    assert [m.name if m else None for m in tier.select(refs[0], refs[1])] == ["local:a1", "local:b2"]

    assert tier.select(refs[1], refs[2])[0].name == "local:b2"
    assert tier.loaded == frozenset({refs[1]})  # c3 is loading; a1 is forgotten


def test_a_disabled_tier_never_reads_s3(errors):
    def fetch(_bucket: str, _key: str) -> bytes:
        raise AssertionError("no read expected")

    tier = LocalTier(bucket=None, modalities=MODALITIES, retry_after_seconds=60, fetch=fetch, on_error=errors)
    ref = LocalModelRef(s3_uri(BUCKET, RunLayout(RUN).local_model_key), 0.5, "0" * 64)

    assert tier.select(ref) == (None,) and tier.join(1) and errors == []


# --------------------------------------------------------------------------- through the handler


def _metrics(out: str) -> dict[str, list]:
    emitted: dict[str, list] = {}
    for line in out.splitlines():
        record = json.loads(line)
        if "_aws" in record:
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    emitted[metric["Name"]] = record[metric["Name"]]
    return emitted


def test_the_response_says_source_local_and_the_metrics_count_it(
    invoke, make_router, tier, s3, bedrock, settings, capsys
):
    ref = put_artifact(s3, tier0_model().to_json().encode())
    router = loaded_router(make_router, tier, ref)
    capsys.readouterr()

    confident = invoke(api_event(body={"query": "interview with the mayor"}), router)
    metrics_confident = _metrics(capsys.readouterr().out)
    bedrock.fail(expected_converse(settings, DEPLOYMENT_ARN, UNKNOWN, "active"), "ThrottlingException", 429)
    bedrock.fail(expected_converse(settings, FALLBACK_MODEL, UNKNOWN, "fallback"), "ThrottlingException", 429)
    degraded = invoke(api_event(body={"query": UNKNOWN}), router)
    metrics_degraded = _metrics(capsys.readouterr().out)

    assert confident["statusCode"] == 200
    assert {k: confident["json"][k] for k in ("model", "source", "degraded")} == {
        "model": f"local:{RUN}", "source": "local", "degraded": False,
    }  # fmt: skip
    assert metrics_confident["LocalAnswers"] == [1.0] and "Fallbacks" not in metrics_confident
    assert {k: degraded["json"][k] for k in ("source", "degraded")} == {"source": "local", "degraded": True}
    assert metrics_degraded["LocalFallbacks"] == [1.0] and metrics_degraded["Fallbacks"] == [1.0]
    assert "HeuristicAnswers" not in metrics_degraded


def test_a_load_error_is_one_metric_and_one_warning(invoke, make_router, s3, capsys, caplog):
    from router_api.telemetry import record_local_model_error

    tier = LocalTier(bucket=BUCKET, modalities=MODALITIES, retry_after_seconds=60, on_error=record_local_model_error,
                     fetch=s3_fetcher(lambda: boto3.client("s3", region_name="us-east-1")))  # fmt: skip
    ref = LocalModelRef(s3_uri(BUCKET, RunLayout(RUN).local_model_key), 0.5, "0" * 64)  # no such object
    router = make_router(parameter=parameter(ref), local=tier)
    router.local.select(ref)
    tier.join(5)
    capsys.readouterr()

    invoke(api_event(body={"query": "cats"}), router)
    out = capsys.readouterr().out
    invoke(api_event(body={"query": "dogs"}), router)
    again = capsys.readouterr().out

    assert _metrics(out)["LocalModelLoadErrors"] == [1.0]
    assert "LocalModelLoadErrors" not in _metrics(again)
    (warning,) = [r for r in caplog.records if r.getMessage().startswith("tier-0 model not loaded")]
    assert "NoSuchKey" in warning.error and warning.s3_uri == ascii(ref.s3_uri)


# --------------------------------------------------------------------------- settings and contract


def test_the_local_model_bucket_setting_round_trips_and_is_checked():
    settings = RouterSettings.from_environ({**ROUTER_ENV, "ROUTER_LOCAL_MODEL_BUCKET": BUCKET})
    assert settings.local_model_bucket == BUCKET
    assert RouterSettings.from_environ(settings.to_environ()) == settings
    assert RouterSettings.from_environ(ROUTER_ENV).local_model_bucket is None
    with pytest.raises(SettingsError, match="ROUTER_LOCAL_MODEL_BUCKET"):
        RouterSettings.from_environ({**ROUTER_ENV, "ROUTER_LOCAL_MODEL_BUCKET": "Not_A_Bucket"})


def test_the_run_id_pattern_is_the_pipelines():
    from routing.pipeline.names import RUN_ID_PATTERN

    assert RUN_ID_PATTERN.pattern == f"^{RUN_ID}$"
    assert re.fullmatch(RUN_ID, "run-2026-12-01") and not re.fullmatch(RUN_ID, "../x")


def test_only_a_served_value_carries_its_tier0_model(settings):
    ref = LocalModelRef(s3_uri(BUCKET, RunLayout(RUN).local_model_key), 0.5, "0" * 64)
    served = ActiveModelSource.for_settings(settings, read_parameter=lambda _n, _a: parameter(ref))
    foreign = json.dumps({"model_id": "arn:aws:bedrock:us-east-1:999999999999:custom-model-deployment/abcdef123456",
                          "local_model": ref.to_dict()})  # fmt: skip
    refused = ActiveModelSource.for_settings(settings, read_parameter=lambda _n, _a: foreign)

    assert served.current().local_model == ref
    assert refused.current().origin == "refused" and refused.current().local_model is None


# --------------------------------------------------------------------------- rollout


def test_a_canary_query_uses_the_candidates_own_tier0_model(make_router, tier, s3, bedrock, settings):
    candidate = DEPLOYMENT_ARN.replace("abcdef123456", "candidate001")
    ref_a = put_artifact(s3, tier0_model(run_id="run-a").to_json().encode(), run_id="run-a")
    ref_b = put_artifact(
        s3, tier0_model({"cooking show recipe": "audio"}, "run-b").to_json().encode(), "run-b"
    )

    def value(percent: float) -> str:
        rollout = {"model_id": candidate, "run_id": "run-b", "mode": "canary", "percent": percent,
                   "started_at": "2026-12-01T10:00:00+00:00", "local_model": ref_b.to_dict()}  # fmt: skip
        return json.dumps({**json.loads(parameter(ref_a)), "rollout": rollout})

    current = {"raw": value(100.0)}
    router = make_router(read_parameter=lambda _n, _a: current["raw"], local=tier)
    route(router, "warm up")  # starts both loads
    assert tier.join(5) and tier.loaded == frozenset({ref_a, ref_b})
    bedrock.answer(expected_converse(settings, candidate, "interview with the mayor", "candidate"))

    canary_known = route(router, "cooking show recipe")[0]
    canary_unknown = route(router, "interview with the mayor")[0]  # run-a's tier-0 is not the candidate's
    current["raw"] = value(0.0)
    router._active = ActiveModelSource.for_settings(settings, read_parameter=lambda _n, _a: current["raw"])
    active_known = route(router, "interview with the mayor")[0]

    assert (canary_known.source, canary_known.model) == ("local", "local:run-b")
    assert (canary_unknown.source, canary_unknown.model) == ("model", candidate)
    assert (active_known.source, active_known.model) == ("local", "local:run-a")
    bedrock.stubber.assert_no_pending_responses()
