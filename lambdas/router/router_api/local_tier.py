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

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from routing import RoutingDecision
from routing.active_model import LocalModelRef
from routing.layout import RunLayout, split_s3_uri
from routing.local_model import LocalModel, LocalModelInvalid, load_local_model

# The loader runs off the request path, but a hung connection must not hold a load forever.
S3_CLIENT_CONFIG = Config(
    connect_timeout=1.0, read_timeout=3.0, retries={"mode": "standard", "total_max_attempts": 2}
)
# A trained artifact is a few MB at most (16k buckets x the modalities); anything far larger is not one.
MAX_ARTIFACT_BYTES = 32 * 2**20
# The run-id pattern of routing.pipeline.names.RUN_ID_PATTERN (that module imports pydantic, which the
# router's cold start may not; tests/api hold the two equal).
RUN_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}"
_PLACEHOLDER = "\x00"
_LOCAL_MODEL_KEY = re.compile(
    re.escape(RunLayout(_PLACEHOLDER).local_model_key).replace(re.escape(_PLACEHOLDER), f"({RUN_ID})")
)
LOCAL_MODEL_NAME_PREFIX = "local:"


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


def artifact_key(ref: LocalModelRef, bucket: str) -> tuple[str, str]:
    """(key, run id) of the artifact `ref` names, or LocalModelUnusable when it is not one this router reads."""
    try:
        ref_bucket, key = split_s3_uri(ref.s3_uri)
    except ValueError:
        raise LocalModelUnusable(f"{_shown(ref.s3_uri)} is not an s3://bucket/key URI") from None
    if ref_bucket != bucket:
        raise LocalModelUnusable(f"{_shown(ref.s3_uri)} is not in the data bucket {bucket}")
    match = _LOCAL_MODEL_KEY.fullmatch(key)
    if match is None:
        raise LocalModelUnusable(f"{_shown(ref.s3_uri)} is not a run's {RunLayout.ANY.local_model_key}")
    if not ref.sha256:
        raise LocalModelUnusable("the reference has no sha256 to check the artifact against")
    return key, match.group(1)


def parse_artifact(
    ref: LocalModelRef, body: bytes, modalities: tuple[str, ...], run_id: str
) -> LoadedLocalModel:
    """Check `body` against the reference's sha256 and the router's modalities, then parse it."""
    digest = hashlib.sha256(body).hexdigest()
    if digest != (ref.sha256 or "").strip().lower():
        raise LocalModelUnusable(
            f"sha256 mismatch: the object is {digest}, the reference says {_shown(ref.sha256 or '')}"
        )
    try:
        model = load_local_model(body)
    except LocalModelInvalid as exc:
        raise LocalModelUnusable(f"not a usable tier-0 artifact: {_shown(str(exc), 200)}") from None
    if model.modalities != modalities:
        raise LocalModelUnusable(
            f"trained for modalities {','.join(model.modalities)}, the router serves {','.join(modalities)}"
        )
    return LoadedLocalModel(ref, model, LOCAL_MODEL_NAME_PREFIX + run_id)


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
            key, run_id = artifact_key(ref, self._bucket)
            loaded = parse_artifact(ref, self._fetch(self._bucket, key), self._modalities, run_id)
        except Exception as exc:  # whatever fails, tier-0 stays off for this reference until the retry
            with self._lock:
                self._retry_at[ref] = self._clock() + self._retry_after
                self._failures.append((_shown(ref.s3_uri, 300), exc))
                self._loading.pop(ref, None)
            return
        with self._lock:
            if ref in self._wanted:  # the value may have changed while it loaded
                self._loaded[ref] = loaded
                self._retry_at.pop(ref, None)
            self._loading.pop(ref, None)


def _shown(text: str, limit: int = 120) -> str:
    """`text` as it may appear in a message: printable ASCII (a repr escapes anything else), shortened."""
    return ascii(text[:limit]) + ("..." if len(text) > limit else "")


def _s3_client() -> Any:
    return boto3.session.Session().client("s3", config=S3_CLIENT_CONFIG)
