"""How fast one key may send grades (`POST /v1/feedback`): a token bucket per key holding
`auth.feedback_per_minute` grades, refilled at that rate. Each grade is a store write and moves
the learned policy, and unlike a model call it costs the caller nothing: unbounded, one key
could write as fast as it could send. Past the bucket a grade is a 429 naming when the next one
passes. Counted per process (with `server.workers = N` or several replicas, each its own)."""

from __future__ import annotations

import time
from collections.abc import Callable

_MAX_KEYS = 10_000  # buckets kept; past it the full ones (keys idle a minute) are dropped


class KeyRate:
    def __init__(
        self, per_minute: Callable[[], int], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_minute = per_minute  # read on each take: a config reload changes it live
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, when counted)

    def take(self, key: str) -> float | None:
        """Take one grade for `key`: None when it passes, else the seconds until one will."""
        capacity = self._per_minute()
        if capacity <= 0:  # 0: no limit
            return None
        rate = capacity / 60.0
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(capacity), now))
        tokens = min(float(capacity), tokens + (now - then) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        if key not in self._buckets and len(self._buckets) >= _MAX_KEYS:
            self._prune(now, rate, capacity)
        self._buckets[key] = (tokens - 1.0, now)
        return None

    def give_back(self, key: str) -> None:
        """Return a token `take` took (the thing it paid for turned out not to count)."""
        capacity = self._per_minute()
        held = self._buckets.get(key)
        if held is not None and capacity > 0:
            self._buckets[key] = (min(float(capacity), held[0] + 1.0), held[1])

    def _prune(self, now: float, rate: float, capacity: int) -> None:
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * rate >= capacity]
        for k in full:
            del self._buckets[k]
