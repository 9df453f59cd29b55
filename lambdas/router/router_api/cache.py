"""In-process TTL cache of routing decisions, keyed by normalised query and model.

Head queries repeat ("news", "cat videos"): answering them from memory costs
microseconds instead of a model call, and spares the model quota. The key includes the
model id, so a promotion, rollback or rollout change never serves another model's answers. Only
answers of the serving model (the active model, or a canary's candidate) are stored (the router
never caches a degraded answer).
Bounded (LRU eviction within a TTL) and thread-safe (batch items run in threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import TTLCache
from routing import RoutingDecision


class DecisionCache:
    """`get`/`put` by (normalised query, model id); a cache with no size or no TTL stores nothing."""

    def __init__(
        self, *, max_entries: int, ttl_seconds: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.enabled = max_entries > 0 and ttl_seconds > 0
        self._entries: TTLCache[tuple[str, str], RoutingDecision] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_seconds, timer=timer) if self.enabled else None
        )
        self._lock = threading.Lock()

    def get(self, query_key: str, model_id: str) -> RoutingDecision | None:
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get((query_key, model_id))

    def put(self, query_key: str, model_id: str, decision: RoutingDecision) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries[(query_key, model_id)] = decision

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        with self._lock:
            return len(self._entries)
