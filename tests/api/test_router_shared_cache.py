"""The shared decision cache (router_api.shared_cache): the table in moto, and fake tables that are slow,
failing or full. No test measures time: a table that holds a call does so on an Event, so a budget that
were not enforced would make the test fail (the fake answers after its guard), never pass slowly."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from router_fixtures import DEFAULT_MODEL, ROUTER_ENV, api_event, expected_converse

# isort: split
from router_api.cache import DecisionCache
from router_api.service import SOURCE_CACHE, SOURCE_MODEL, Deadline, build_router
from router_api.settings import RouterSettings, SettingsError
from router_api.shared_cache import (
    ATTRIBUTE_DECISION,
    ATTRIBUTE_EXPIRES,
    ATTRIBUTE_KEY,
    CircuitBreaker,
    LayeredCache,
    SharedCacheCounts,
    SharedDecisionTable,
    decision_item,
    item_key,
)
from routing import RoutingDecision, normalise_query

TABLE = "vsr-test-router-decisions"
MODALITIES = ("visual", "audio", "transcription", "metadata")
DECISION = RoutingDecision(
    {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}, "things seen"
)
NOW = 1_800_000_000.0
QUERY = "goal replay"
KEY = normalise_query(QUERY)
# How long a fake table holds a call at most: far beyond any budget, so a get that waited for it fails.
GUARD_S = 5.0


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTable:
    """A dynamodb client stand-in: answers `item`, raises `error`, or holds each call until `release`."""

    def __init__(
        self, item: dict[str, Any] | None = None, error: Exception | None = None, hold: bool = False
    ):
        self.item, self.error = item, error
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.gets: list[dict[str, Any]] = []
        self.puts: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def get_item(self, **params: Any) -> dict[str, Any]:
        with self._lock:
            self.gets.append(params)
        self.release.wait(GUARD_S)
        if self.error is not None:
            raise self.error
        return {"Item": self.item} if self.item is not None else {}

    def put_item(self, **params: Any) -> dict[str, Any]:
        self.release.wait(GUARD_S)
        with self._lock:
            self.puts.append(params)
        if self.error is not None:
            raise self.error
        return {}


def shared(client: Any, **overrides: Any) -> SharedDecisionTable:
    """A table on `client`. The default budget is one no answering call exceeds on a loaded machine (tests
    of items and counts must not see a timeout); the tests of timeouts hold the call and give 5 ms."""
    options = {
        "modalities": MODALITIES, "budget_ms": GUARD_S * 1000 / 2, "ttl_seconds": 600, "create_client": lambda: client,
        "wall_clock": lambda: NOW, **overrides,
    }  # fmt: skip
    table = SharedDecisionTable(TABLE, **options)
    assert table.wait_until_ready(GUARD_S)
    return table


@pytest.fixture
def tables() -> Iterator[list[SharedDecisionTable]]:
    """Tables made by a test, closed after it (their held fakes released first)."""
    made: list[SharedDecisionTable] = []
    yield made
    for table in made:
        table.close()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": ATTRIBUTE_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": ATTRIBUTE_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


# --------------------------------------------------------------------------- the item


def test_the_key_is_a_small_hash_of_model_and_query():
    key = item_key(KEY, DEFAULT_MODEL)

    assert len(key) == 32 and int(key, 16) >= 0
    assert key == item_key(KEY, DEFAULT_MODEL)
    assert key != item_key(KEY, "us.amazon.nova-micro-v1:0")
    assert key != item_key("goal replays", DEFAULT_MODEL)
    # A lone surrogate (valid in a JSON string) has a key too, instead of a UnicodeEncodeError.
    assert len(item_key("goal \ud800", DEFAULT_MODEL)) == 32


def test_a_decision_read_back_from_the_table_is_the_one_written(dynamodb, tables):
    table = shared(dynamodb)
    tables.append(table)

    assert table.get(KEY, DEFAULT_MODEL) is None  # nothing written yet
    table.put(KEY, DEFAULT_MODEL, DECISION)
    table.flush(GUARD_S)

    assert table.get(KEY, DEFAULT_MODEL) == DECISION
    assert table.get(KEY, "us.amazon.nova-micro-v1:0") is None  # another model's answer is not this one
    (stored,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert stored[ATTRIBUTE_EXPIRES] == {"N": str(int(NOW) + 600)}
    assert QUERY not in json.dumps(stored)  # the table holds no query text
    assert table.drain_counts() == SharedCacheCounts(hits=1, misses=2)
    assert not table.drain_counts()


def test_an_expired_item_is_a_miss_before_dynamodb_deletes_it(dynamodb, tables):
    dynamodb.put_item(TableName=TABLE, Item=decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW)))
    table = shared(dynamodb)
    tables.append(table)

    assert table.get(KEY, DEFAULT_MODEL) is None
    assert table.drain_counts() == SharedCacheCounts(misses=1)


@pytest.mark.parametrize(
    "change",
    [
        {ATTRIBUTE_DECISION: {"S": "not json"}},
        {ATTRIBUTE_DECISION: {"S": '{"visual": 1, "reasoning": "other modalities"}'}},
        {ATTRIBUTE_DECISION: {"S": '{"visual": 0.9, "audio": 0.9, "transcription": 0, "metadata": 0, "reasoning": ""}'}},
        {ATTRIBUTE_DECISION: {"S": '{"visual": true, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": ""}'}},
        {ATTRIBUTE_DECISION: {"S": '{"visual": 1, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": 7}'}},
        {ATTRIBUTE_DECISION: {"N": "1"}},
        {ATTRIBUTE_EXPIRES: {"S": "tomorrow"}},
        {ATTRIBUTE_EXPIRES: None},
    ],
    ids=["not-json", "modalities", "sum", "boolean", "reasoning", "decision-type", "expiry-type", "no-expiry"],
)  # fmt: skip
def test_a_malformed_item_is_a_miss_not_an_error(dynamodb, tables, change):
    item = {**decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW) + 60), **change}
    item = {name: value for name, value in item.items() if value is not None}
    dynamodb.put_item(TableName=TABLE, Item=item)
    table = shared(dynamodb)
    tables.append(table)

    assert table.get(KEY, DEFAULT_MODEL) is None
    assert table.drain_counts() == SharedCacheCounts(misses=1)


# --------------------------------------------------------------------------- a slow or failing table


def test_a_slow_read_is_abandoned_at_the_budget_and_the_model_answers(make_router, bedrock, settings, tables):
    slow = FakeTable(item=decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW) + 60), hold=True)
    table = shared(slow, budget_ms=5)
    tables.append(table)
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))
    router = make_router(cache=LayeredCache(DecisionCache(max_entries=10, ttl_seconds=60), table))

    try:
        (result,) = router.route([QUERY], _deadline(settings))
        counts = table.drain_counts()
    finally:
        slow.release.set()

    # Had the router waited for the table, it would have got the table's decision (source "cache").
    assert result.source == SOURCE_MODEL and result.decision.reasoning == "things seen"
    assert counts.timeouts == 1 and counts.hits == 0
    assert len(slow.gets) == 1


def test_a_failing_table_never_fails_the_request(invoke, make_router, bedrock, settings, tables, capsys):
    broken = FakeTable(error=ConnectionError("table unreachable"))
    table = shared(broken)
    tables.append(table)
    bedrock.answer(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"))
    capsys.readouterr()

    response = invoke(api_event(body={"query": QUERY}), make_router(cache=LayeredCache(_local(), table)))
    table.flush(GUARD_S)

    assert response["statusCode"] == 200 and response["json"]["source"] == SOURCE_MODEL
    assert len(broken.gets) == 1 and len(broken.puts) == 1  # the answer was still offered to the table
    # The failed read is this request's; the background write's failure is counted by whichever drain
    # comes after it (this request's or the next one's).
    emitted = _metrics(capsys.readouterr().out).get("SharedCacheErrors", [0.0])
    assert emitted[0] + table.drain_counts().errors == 2


def test_a_table_hit_fills_the_in_process_cache_and_is_answered_as_cache(make_router, settings, tables):
    fake = FakeTable(item=decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW) + 60))
    table = shared(fake)
    tables.append(table)
    router = make_router(cache=LayeredCache(_local(), table))  # no Bedrock answer queued: a model call fails

    first, second = (router.route([QUERY], _deadline(settings))[0] for _ in range(2))

    assert first.source == second.source == SOURCE_CACHE
    assert first.decision == second.decision == DECISION
    assert len(fake.gets) == 1  # the second came from the in-process cache
    assert table.drain_counts() == SharedCacheCounts(hits=1)


def test_only_the_active_models_answer_is_written(make_router, bedrock, settings, tables):
    fake = FakeTable()
    table = shared(fake)
    tables.append(table)
    bedrock.fail(expected_converse(settings, DEFAULT_MODEL, QUERY, "active"), "ThrottlingException", 429)
    bedrock.answer(expected_converse(settings, settings.fallback_model_id, QUERY, "fallback"))

    (result,) = make_router(cache=LayeredCache(_local(), table)).route([QUERY], _deadline(settings))
    table.flush(GUARD_S)

    assert result.degraded and fake.puts == []


# --------------------------------------------------------------------------- breaker and backlog


def test_the_breaker_skips_the_table_after_consecutive_failures_then_probes_it(tables):
    clock = FakeClock()
    broken = FakeTable(error=ConnectionError("down"))
    table = shared(broken, breaker=CircuitBreaker(failures=3, open_seconds=30, clock=clock))
    tables.append(table)

    for _ in range(5):
        assert table.get(KEY, DEFAULT_MODEL) is None
    assert len(broken.gets) == 3  # open after the third failure: the next two cost nothing
    table.put(KEY, DEFAULT_MODEL, DECISION)  # an open breaker drops writes too
    assert table.drain_counts() == SharedCacheCounts(errors=3, skipped=2, dropped_writes=1)

    clock.now = 29.0
    assert table.get(KEY, DEFAULT_MODEL) is None and len(broken.gets) == 3
    clock.now = 30.0  # half-open: one probe, which fails: open again for 30 s
    assert table.get(KEY, DEFAULT_MODEL) is None and len(broken.gets) == 4
    assert table.get(KEY, DEFAULT_MODEL) is None and len(broken.gets) == 4

    broken.error, broken.item = None, decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW) + 60)
    clock.now = 60.0  # the probe succeeds: closed, every lookup goes to the table again
    assert table.get(KEY, DEFAULT_MODEL) == DECISION
    assert table.get(KEY, DEFAULT_MODEL) == DECISION
    assert len(broken.gets) == 6


def test_timeouts_open_the_breaker_too(tables):
    slow = FakeTable(hold=True)
    table = shared(slow, budget_ms=5, breaker=CircuitBreaker(failures=2, open_seconds=30, clock=FakeClock()))
    tables.append(table)
    try:
        results = [table.get(KEY, DEFAULT_MODEL) for _ in range(4)]
        counts = table.drain_counts()
    finally:
        slow.release.set()

    assert results == [None] * 4
    assert counts == SharedCacheCounts(timeouts=2, skipped=2)


def test_a_read_is_skipped_when_every_read_thread_is_busy_with_late_reads(tables):
    slow = FakeTable(hold=True)
    table = shared(slow, budget_ms=5, read_workers=2, breaker=CircuitBreaker(failures=100, clock=FakeClock()))
    tables.append(table)
    try:
        for _ in range(4):
            table.get(KEY, DEFAULT_MODEL)
        counts = table.drain_counts()
        sent = len(slow.gets)
    finally:
        slow.release.set()

    assert counts == SharedCacheCounts(timeouts=2, skipped=2)
    assert sent == 2  # nothing queued behind the two late reads


def test_writes_never_block_and_the_backlog_is_bounded(tables):
    stuck = FakeTable(hold=True)
    table = shared(stuck, write_workers=1, write_backlog=4)
    tables.append(table)
    try:
        for index in range(50):  # each would block for GUARD_S if put waited for the table
            table.put(f"query {index}", DEFAULT_MODEL, DECISION)
        counts = table.drain_counts()
    finally:
        stuck.release.set()
    table.flush(GUARD_S)

    assert counts == SharedCacheCounts(dropped_writes=46)
    assert len(stuck.puts) == 4
    (put,) = [p for p in stuck.puts if p["Item"][ATTRIBUTE_KEY]["S"] == item_key("query 0", DEFAULT_MODEL)]
    assert put["TableName"] == TABLE


def test_lookups_before_the_client_exists_are_skipped_not_failed(tables):
    gate = threading.Event()
    fake = FakeTable()

    def create() -> FakeTable:
        gate.wait(GUARD_S)
        return fake

    table = SharedDecisionTable(
        TABLE, modalities=MODALITIES, budget_ms=5, ttl_seconds=60, create_client=create
    )
    tables.append(table)
    try:
        assert table.get(KEY, DEFAULT_MODEL) is None
        table.put(KEY, DEFAULT_MODEL, DECISION)
    finally:
        gate.set()
    assert table.wait_until_ready(GUARD_S)

    assert fake.gets == [] and table.drain_counts() == SharedCacheCounts(skipped=1, dropped_writes=1)


# --------------------------------------------------------------------------- settings, wiring and metrics


def test_the_shared_cache_settings_come_from_the_environment_and_read_back(settings):
    env = {**ROUTER_ENV, "ROUTER_SHARED_CACHE_TABLE": TABLE, "ROUTER_SHARED_CACHE_BUDGET_MS": "6",
           "ROUTER_SHARED_CACHE_TTL_SECONDS": "900"}  # fmt: skip
    configured = RouterSettings.from_environ(env)

    assert (configured.shared_cache_table, configured.shared_cache_budget_ms) == (TABLE, 6)
    assert configured.shared_cache_ttl_seconds == 900
    assert RouterSettings.from_environ(configured.to_environ()) == configured
    assert settings.shared_cache_table is None and "ROUTER_SHARED_CACHE_TABLE" not in settings.to_environ()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"ROUTER_SHARED_CACHE_TABLE": "no spaces allowed"}, "ROUTER_SHARED_CACHE_TABLE must be a DynamoDB table"),
        ({"ROUTER_SHARED_CACHE_BUDGET_MS": "500"}, "ROUTER_SHARED_CACHE_BUDGET_MS must be between 1 and 50"),
        ({"ROUTER_SHARED_CACHE_TTL_SECONDS": "5"}, "ROUTER_SHARED_CACHE_TTL_SECONDS must be between 60"),
    ],
)  # fmt: skip
def test_bad_shared_cache_settings_name_the_variable(override, fragment):
    with pytest.raises(SettingsError, match=re.escape(fragment)):
        RouterSettings.from_environ({**ROUTER_ENV, **override})


def test_the_production_wiring_layers_the_table_only_when_configured(settings, tables):
    assert isinstance(build_router(settings).cache, DecisionCache)

    router = build_router(replace(settings, shared_cache_table=TABLE, shared_cache_budget_ms=7))
    cache = router.cache
    assert isinstance(cache, LayeredCache)
    tables.append(cache.shared)
    assert cache.shared.table_name == TABLE and cache.shared._budget_s == pytest.approx(0.007)


def test_the_handler_emits_the_tables_outcomes_as_metrics(invoke, make_router, capsys, tables):
    fake = FakeTable(item=decision_item(item_key(KEY, DEFAULT_MODEL), DECISION, int(NOW) + 60))
    table = shared(fake)
    tables.append(table)
    capsys.readouterr()

    response = invoke(api_event(body={"query": QUERY}), make_router(cache=LayeredCache(_local(), table)))

    emitted = _metrics(capsys.readouterr().out)
    assert response["json"]["source"] == SOURCE_CACHE
    assert emitted["SharedCacheHits"] == [1.0] and emitted["CacheHits"] == [1.0]
    assert "SharedCacheTimeouts" not in emitted  # only what happened is emitted


def _metrics(out: str) -> dict[str, list]:
    emitted: dict[str, list] = {}
    for line in out.splitlines():
        record = json.loads(line)
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                emitted[metric["Name"]] = record[metric["Name"]]
    return emitted


def _local() -> DecisionCache:
    return DecisionCache(max_entries=10, ttl_seconds=60)


def _deadline(settings) -> Deadline:
    return Deadline.start(settings.deadline_ms)
