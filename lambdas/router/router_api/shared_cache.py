"""A shared decision cache: one DynamoDB table behind every container's in-process cache.

A fleet of containers each keeps its own `DecisionCache`, so at hundreds of queries per second
spread over ~170 containers a repeated query rarely meets the container that answered it. The
table is the cache they share: `LayeredCache` asks the in-process cache first, then the table
(a table hit fills the in-process cache), then the model; an answer of the active model is
written to both.

The table must never cost a request more than its budget, whatever it does:

- reads run on a small thread pool and the request waits at most `budget_ms` for them
  (botocore's timeouts cannot be set to a few milliseconds reliably: they bound connect and
  each socket read, not the call); a late read is left to finish on its thread and its result
  is dropped. A read is only submitted when a thread is free for it, so it never waits in a
  queue; no retries;
- a circuit breaker skips the table for `open_seconds` after `failures` consecutive timeouts
  or errors, then lets one read through to probe it: an outage costs nothing per request;
- writes are fire-and-forget on their own pool with a bounded backlog (dropped when full),
  never awaited by a request;
- the client is created in the background when the table is built (creating a DynamoDB client
  costs tens of milliseconds); lookups before it exists are skipped, not failed.

Item: `pk` = a 128-bit BLAKE2b hash of (model id, normalised query) in hex (small, fixed size,
and the table holds no query text), `decision` = the decision's JSON, `expires_at` = epoch
seconds (the table's TTL attribute). What comes back is checked as strictly as it was written
(the configured modalities, weights that sum to 1): anything else is a miss, never an error of
the request. Outcome counts (hits, misses, timeouts, errors, skipped, dropped writes) are
collected here and drained by the handler into metrics (router_api.telemetry). Logic only: no
logging. Standard library and boto3 only (the cold start counts).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, fields
from typing import Any

from routing import RoutingDecision

from .cache import DecisionCache
from .settings import RouterSettings

ATTRIBUTE_KEY = "pk"
ATTRIBUTE_DECISION = "decision"
# The table's TTL attribute (stacks/constructs/router_shared_cache.py names it too).
ATTRIBUTE_EXPIRES = "expires_at"

READ_WORKERS = 8  # reads in flight at once; a batch's items look up in parallel
WRITE_WORKERS = 2
WRITE_BACKLOG = 64  # writes queued or in flight; more are dropped
BREAKER_FAILURES = 5
BREAKER_OPEN_SECONDS = 30.0
# A late read still holds its thread until botocore gives up: short timeouts free it soon.
CONNECT_TIMEOUT_S = 0.25
READ_TIMEOUT_S = 0.25


def item_key(query_key: str, model_id: str) -> str:
    """The partition key of (normalised query, model id): 32 hex characters.

    `surrogatepass`: a query decoded from JSON may hold a lone surrogate, which plain UTF-8 refuses.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(model_id.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(query_key.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def decision_item(key: str, decision: RoutingDecision, expires_at: int) -> dict[str, Any]:
    """The PutItem `Item` for a decision (low-level attribute values)."""
    text = json.dumps(decision.to_dict(), separators=(",", ":"), ensure_ascii=False)
    return {
        ATTRIBUTE_KEY: {"S": key},
        ATTRIBUTE_DECISION: {"S": text},
        ATTRIBUTE_EXPIRES: {"N": str(expires_at)},
    }


def decision_of(item: object, modalities: tuple[str, ...], now: float) -> RoutingDecision | None:
    """The decision an item holds, or None: absent, expired, or not exactly what `decision_item` writes."""
    if not isinstance(item, Mapping):
        return None
    expires = _attribute(item, ATTRIBUTE_EXPIRES, "N")
    text = _attribute(item, ATTRIBUTE_DECISION, "S")
    if expires is None or text is None:
        return None
    try:
        expires_at = float(expires)
    except ValueError:
        return None
    # TTL deletion is lazy: "DynamoDB typically deletes expired items within two days of expiration
    # [...] Items that have expired and not been deleted will still show up in reads" (DynamoDB API
    # Reference, UpdateTimeToLive). So the expiry is checked here too.
    if not math.isfinite(expires_at) or expires_at <= now:
        return None
    try:
        flat = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(flat, dict) or set(flat) != {*modalities, "reasoning"}:
        return None
    if any(isinstance(flat[name], bool) or not isinstance(flat[name], int | float) for name in modalities):
        return None
    try:
        return RoutingDecision({name: flat[name] for name in modalities}, flat["reasoning"])
    except (ValueError, TypeError):
        return None


def _attribute(item: Mapping[str, Any], name: str, kind: str) -> str | None:
    value = item.get(name)
    if not isinstance(value, Mapping):
        return None
    inner = value.get(kind)
    return inner if isinstance(inner, str) else None


class CircuitBreaker:
    """Closed -> open after `failures` consecutive failures -> after `open_seconds`, one probe at a time."""

    def __init__(
        self,
        *,
        failures: int = BREAKER_FAILURES,
        open_seconds: float = BREAKER_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def allow(self) -> bool:
        """True when a call may go to the table now (closed, or the one probe of a half-open breaker)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self._clock() - self._opened_at < self._open_seconds:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self._threshold:
                self._opened_at = self._clock()
            self._probing = False


@dataclass(frozen=True, slots=True)
class SharedCacheCounts:
    """What the table did since the last drain."""

    hits: int = 0
    misses: int = 0  # no item, an expired one, or a malformed one
    timeouts: int = 0  # reads not answered within the budget
    errors: int = 0  # reads and writes that raised
    skipped: int = 0  # lookups not sent: breaker open, no free read thread, client not created yet
    dropped_writes: int = 0  # writes not sent: breaker open or backlog full

    def __bool__(self) -> bool:
        return any(getattr(self, field.name) for field in fields(self))


class SharedDecisionTable:
    """`get`/`put` of decisions in the DynamoDB table, each bounded as the module docstring says; never raises."""

    def __init__(
        self,
        table_name: str,
        *,
        modalities: tuple[str, ...],
        budget_ms: float,
        ttl_seconds: int,
        create_client: Callable[[], Any] | None = None,
        breaker: CircuitBreaker | None = None,
        wall_clock: Callable[[], float] = time.time,
        read_workers: int = READ_WORKERS,
        write_workers: int = WRITE_WORKERS,
        write_backlog: int = WRITE_BACKLOG,
    ) -> None:
        self.table_name = table_name
        self._modalities = modalities
        self._budget_s = budget_ms / 1000.0
        self._ttl_seconds = ttl_seconds
        self._breaker = breaker or CircuitBreaker()
        self._wall_clock = wall_clock
        self._reads = ThreadPoolExecutor(max_workers=read_workers, thread_name_prefix="shared-cache-read")
        self._writes = ThreadPoolExecutor(max_workers=write_workers, thread_name_prefix="shared-cache-write")
        self._read_slots = threading.BoundedSemaphore(read_workers)
        self._write_slots = threading.BoundedSemaphore(write_backlog)
        self._pending_writes: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys((field.name for field in fields(SharedCacheCounts)), 0)
        self._client: Any = None
        # Created on a read thread now, so the first request does not wait for it.
        self._client_ready = self._reads.submit(self._create_client, create_client or dynamodb_client)

    @classmethod
    def for_settings(cls, settings: RouterSettings, **overrides: Any) -> SharedDecisionTable:
        if not settings.shared_cache_table:
            raise ValueError("the shared cache has no table (ROUTER_SHARED_CACHE_TABLE is empty)")
        return cls(
            settings.shared_cache_table,
            modalities=settings.modalities,
            budget_ms=settings.shared_cache_budget_ms,
            ttl_seconds=settings.shared_cache_ttl_seconds,
            **overrides,
        )

    def _create_client(self, create: Callable[[], Any]) -> None:
        self._client = create()

    def wait_until_ready(self, timeout_s: float | None = None) -> bool:
        """For tests and the benchmark: wait for the client (False if creating it failed or took too long)."""
        try:
            self._client_ready.result(timeout=timeout_s)
        except Exception:
            return False
        return self._client is not None

    def get(self, query_key: str, model_id: str) -> RoutingDecision | None:
        client = self._client
        # A free read thread first (every one busy with late reads: waiting in a queue would spend the
        # budget), then the breaker: a half-open breaker's probe is always sent once allowed.
        if client is None or not self._read_slots.acquire(blocking=False):
            self._count("skipped")
            return None
        if not self._breaker.allow():
            self._read_slots.release()
            self._count("skipped")
            return None
        try:
            future = self._reads.submit(self._read, client, item_key(query_key, model_id))
        except RuntimeError:  # the pool is shut down
            self._read_slots.release()
            self._count("skipped")
            return None
        try:
            item = future.result(timeout=self._budget_s)
        except FutureTimeout:
            self._breaker.failure()
            self._count("timeouts")
            return None
        except Exception:
            self._breaker.failure()
            self._count("errors")
            return None
        self._breaker.success()
        decision = decision_of(item, self._modalities, self._wall_clock())
        self._count("hits" if decision is not None else "misses")
        return decision

    def _read(self, client: Any, key: str) -> object:
        try:
            # Eventually consistent (the default): half the read units of a strongly consistent read, and a
            # decision written a moment ago that is not yet visible is only a miss.
            response = client.get_item(TableName=self.table_name, Key={ATTRIBUTE_KEY: {"S": key}})
            return response.get("Item")
        finally:
            self._read_slots.release()

    def put(self, query_key: str, model_id: str, decision: RoutingDecision) -> None:
        client = self._client
        if client is None or self._breaker.is_open or not self._write_slots.acquire(blocking=False):
            self._count("dropped_writes")
            return
        expires_at = int(self._wall_clock()) + self._ttl_seconds
        item = decision_item(item_key(query_key, model_id), decision, expires_at)
        try:
            future = self._writes.submit(self._write, client, item)
        except RuntimeError:
            self._write_slots.release()
            self._count("dropped_writes")
            return
        with self._lock:
            self._pending_writes.add(future)
        future.add_done_callback(self._write_done)

    def _write(self, client: Any, item: dict[str, Any]) -> None:
        try:
            client.put_item(TableName=self.table_name, Item=item)
        except Exception:
            self._breaker.failure()
            self._count("errors")
        finally:
            self._write_slots.release()

    def _write_done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending_writes.discard(future)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for the writes sent so far (tests, the benchmark; a request never calls it)."""
        with self._lock:
            pending = list(self._pending_writes)
        wait_all(pending, timeout=timeout_s)

    def drain_counts(self) -> SharedCacheCounts:
        """The counts since the last drain, reset to zero."""
        with self._lock:
            counts = SharedCacheCounts(**self._counts)
            for name in self._counts:
                self._counts[name] = 0
        return counts

    def close(self) -> None:
        self._reads.shutdown(wait=False, cancel_futures=True)
        self._writes.shutdown(wait=True)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1


class LayeredCache:
    """`DecisionCache`'s interface over two layers: the in-process cache, then the shared table.

    A table hit fills the in-process cache; `put` writes both (the table in the background).
    """

    enabled = True

    def __init__(self, local: DecisionCache, shared: SharedDecisionTable) -> None:
        self.local = local
        self.shared = shared

    def get(self, query_key: str, model_id: str) -> RoutingDecision | None:
        decision = self.local.get(query_key, model_id)
        if decision is not None:
            return decision
        decision = self.shared.get(query_key, model_id)
        if decision is not None:
            self.local.put(query_key, model_id, decision)
        return decision

    def put(self, query_key: str, model_id: str, decision: RoutingDecision) -> None:
        self.local.put(query_key, model_id, decision)
        self.shared.put(query_key, model_id, decision)

    def __len__(self) -> int:
        return len(self.local)

    def __bool__(self) -> bool:  # a cache is a cache when empty (`cache or default` must keep it)
        return True


def dynamodb_client() -> Any:
    """A DynamoDB client with short timeouts and no botocore retries (a late read is dropped anyway)."""
    import boto3  # the router imports boto3 already (router_api.bedrock); here only when a table is configured
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=READ_WORKERS + WRITE_WORKERS,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client("dynamodb", config=config)
