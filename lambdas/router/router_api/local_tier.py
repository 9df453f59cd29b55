"""Tier-0 in the router: the promoted run's local model, loaded in the background, answering confident queries.

The active-model value may name a tier-0 model (`routing.active_model.LocalModelRef`: its artifact's
S3 URI, sha256 and calibrated confidence threshold). `LocalTier.select` hands the router the
loaded model for a reference, or None while it is not loaded: it never waits. The first request
that names a reference starts one background thread that reads the artifact (S3 GetObject),
checks its sha256 and parses it (`routing.local_model.load_local_model`); until that is done, and
whenever it failed, the router simply routes without tier-0. A failed load is reported once (in
the caller's thread, so metrics and logs stay in the handler's thread) and tried again only after
`retry_after_seconds` (the active-model parameter's max age: an unreadable artifact costs one
GetObject per container per max age, not one per request).

Only models the current value names are kept: `select(*refs)` evicts every other one (the active
model's and, during a rollout, the candidate's: at most two in memory). A reference is refused
before any S3 call when it is not this deployment's: another bucket than the data bucket, a key
that is not `RunLayout(<run id>).local_model_key`, or no sha256 to check the object against (the
router's grant is s3:GetObject on exactly those keys; the check makes the error readable).

Lambda note: "Lambda freezes the execution environment when the runtime and each extension have
completed and there are no pending events" (Lambda developer guide, "Understanding the Lambda
execution environment lifecycle"): the loading thread is frozen with it between invocations and
goes on during the next ones, so the load completes within the first requests of a container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from routing import RoutingDecision
from routing.active_model import LocalModelRef

if TYPE_CHECKING:
    from routing.local_model import LocalModel

# The artifact's checks and parsing (router_api.local_artifact, routing.layout, routing.local_model) are
# imported by the loading thread, not with the handler: the cold import counts (compiling and running
# them is several milliseconds), and a router whose value names no tier-0 model never needs them.

# The loader runs off the request path, but a hung connection must not hold a load forever.
S3_CLIENT_CONFIG = Config(
    connect_timeout=1.0, read_timeout=3.0, retries={"mode": "standard", "total_max_attempts": 2}
)
# A trained artifact is a few MB at most (16k buckets x the modalities); anything far larger is not one.
MAX_ARTIFACT_BYTES = 32 * 2**20


class LocalModelUnusable(Exception):
    """A tier-0 artifact the router will not use; the message says why (one line, printable)."""


@dataclass(frozen=True, slots=True)
class LocalAnswer:
    """Tier-0's decision for a query; `confident` when its confidence reaches the calibrated threshold."""

    decision: RoutingDecision
    model: str
    confident: bool
    confidence: float


@dataclass(frozen=True, slots=True)
class LoadedLocalModel:
    """A checked, parsed tier-0 model and its reference; `name` ("local:<run id>") is the response's `model`."""

    ref: LocalModelRef
    model: LocalModel
    name: str

    def answer(self, query: str) -> LocalAnswer:
        prediction = self.model.predict(query)
        confident = prediction.confidence >= self.ref.threshold
        return LocalAnswer(prediction.decision, self.name, confident, prediction.confidence)


def s3_fetcher(create_client: Callable[[], Any] | None = None) -> Callable[[str, str], bytes]:
    """`fetch(bucket, key) -> bytes` through S3 GetObject; its boto3 client is created on first use."""
    client: list[Any] = []
    lock = threading.Lock()

    def fetch(bucket: str, key: str) -> bytes:
        with lock:
            if not client:
                client.append(create_client() if create_client else _s3_client())
        response = client[0].get_object(Bucket=bucket, Key=key)
        if response.get("ContentLength", 0) > MAX_ARTIFACT_BYTES:
            raise LocalModelUnusable(f"the object is larger than {MAX_ARTIFACT_BYTES} bytes")
        body = response["Body"].read(MAX_ARTIFACT_BYTES + 1)
        if len(body) > MAX_ARTIFACT_BYTES:
            raise LocalModelUnusable(f"the object is larger than {MAX_ARTIFACT_BYTES} bytes")
        return body

    return fetch


class LocalTier:
    """The tier-0 models the active-model value names, loaded off the request path; never raises."""

    def __init__(
        self,
        *,
        bucket: str | None,
        modalities: tuple[str, ...],
        retry_after_seconds: float,
        fetch: Callable[[str, str], bytes] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.enabled = bucket is not None
        self._bucket = bucket or ""
        self._modalities = modalities
        self._retry_after = max(retry_after_seconds, 1.0)
        self._fetch = fetch or s3_fetcher()
        self._clock = clock
        self._on_error = on_error
        self._loaded: dict[LocalModelRef, LoadedLocalModel] = {}
        self._loading: dict[LocalModelRef, threading.Thread] = {}
        self._retry_at: dict[LocalModelRef, float] = {}
        self._wanted: frozenset[LocalModelRef] = frozenset()
        self._failures: list[tuple[str, Exception]] = []
        self._lock = threading.Lock()

    def select(self, *refs: LocalModelRef | None) -> tuple[LoadedLocalModel | None, ...]:
        """The loaded model of each reference (None while loading, failed, absent or disabled); forgets the rest."""
        if not self.enabled:
            return tuple(None for _ in refs)
        wanted = frozenset(ref for ref in refs if ref is not None)
        with self._lock:
            if wanted != self._wanted:
                self._wanted = wanted
                self._loaded = {ref: model for ref, model in self._loaded.items() if ref in wanted}
                self._retry_at = {ref: at for ref, at in self._retry_at.items() if ref in wanted}
            selected = tuple(self._loaded_or_start(ref) if ref is not None else None for ref in refs)
            failures, self._failures = self._failures, []
        if self._on_error is not None:
            for uri, error in failures:
                self._on_error(uri, error)
        return selected

    @property
    def loaded(self) -> frozenset[LocalModelRef]:
        """The references whose model is in memory."""
        with self._lock:
            return frozenset(self._loaded)

    def join(self, timeout_seconds: float) -> bool:
        """Wait for the loads in flight (tests, the benchmark); True when none is left."""
        end = time.monotonic() + timeout_seconds
        while True:
            with self._lock:
                threads = list(self._loading.values())
            if not threads:
                return True
            for thread in threads:
                thread.join(max(0.0, end - time.monotonic()))
            if time.monotonic() >= end:
                with self._lock:
                    return not self._loading

    def _loaded_or_start(self, ref: LocalModelRef) -> LoadedLocalModel | None:
        loaded = self._loaded.get(ref)
        if loaded is not None or ref in self._loading:
            return loaded
        if self._clock() < self._retry_at.get(ref, float("-inf")):
            return None
        thread = threading.Thread(target=self._load, args=(ref,), name="tier0-load", daemon=True)
        self._loading[ref] = thread
        thread.start()
        return None

    def _load(self, ref: LocalModelRef) -> None:
        try:
            from .local_artifact import artifact_key, parse_artifact

            key, run_id = artifact_key(ref, self._bucket)
            loaded = parse_artifact(ref, self._fetch(self._bucket, key), self._modalities, run_id)
        except Exception as exc:  # whatever fails, tier-0 stays off for this reference until the retry
            with self._lock:
                self._retry_at[ref] = self._clock() + self._retry_after
                self._failures.append((printable(ref.s3_uri, 300), exc))
                self._loading.pop(ref, None)
            return
        with self._lock:
            if ref in self._wanted:  # the value may have changed while it loaded
                self._loaded[ref] = loaded
                self._retry_at.pop(ref, None)
            self._loading.pop(ref, None)


def printable(text: str, limit: int = 120) -> str:
    """`text` as it may appear in a message: printable ASCII (a repr escapes anything else), shortened."""
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")


def _s3_client() -> Any:
    return boto3.session.Session().client("s3", config=S3_CLIENT_CONFIG)
