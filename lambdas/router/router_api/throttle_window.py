"""The router's per-container throttle window: after a model throttles, skip it for a short while.

A throttled Converse call means that model's quota is spent right now; every other request of
the container asking it in the next instant would be throttled too, and each such call costs a
round trip before the request moves on. So after a call is throttled (fault kind "throttled" of
`routing.converse`: ThrottlingException, TooManyRequestsException, ServiceQuotaExceededException),
that model id is skipped for `window_ms` by every request of the container, which goes straight to
the next tier (fallback model, tier-0, heuristic); the skip is recorded as a call with outcome
"shed" (no request was sent). Why it is safe:

- it never extends itself: no call is made inside the window, so only a real throttled call after
  it opens the next one (the first request after the window probes the model again);
- it is short (500 ms by default, at most 10 s) and per container, keyed by model id, so one
  model's quota never takes another model out;
- 0 turns it off (every request asks the model, as before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

THROTTLED_KIND = "throttled"
SHED = "shed"


class ThrottleWindow:
    """Which models to skip now because they throttled less than `window_ms` ago; thread-safe."""

    def __init__(self, window_ms: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.window_s = max(window_ms, 0) / 1000.0
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def skipping(self, model_id: str) -> bool:
        """True while `model_id` is inside the window opened by its last throttled call."""
        if not self.window_s:
            return False
        with self._lock:
            until = self._until.get(model_id)
            if until is None:
                return False
            if self._clock() < until:
                return True
            del self._until[model_id]
            return False

    def record(self, model_id: str, outcomes: Iterable[str]) -> None:
        """Open the window for `model_id` when one of its calls' outcomes was a throttle."""
        if self.window_s and THROTTLED_KIND in outcomes:
            with self._lock:
                self._until[model_id] = self._clock() + self.window_s
