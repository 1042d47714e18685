"""The garbage collector's settings for a serving process (`arbiter serve`).

A collection holds the GIL: the event loop waits for all of it. Two levers keep them short:
- Young collections every 2,000 net allocations instead of 700 (10,000 made each young
  collection a stall of its own: up to 18.6 ms, bench/results/scale.md): a request's objects
  are freed by reference counting when it ends (no cycles on the request path:
  tests/test_disconnect_cycles.py); a collection while a request is in flight promotes its live
  objects, and at 700 a request alive for a few milliseconds under load reached the oldest
  generation, whose full collections then ran every second or two (10-80 ms each).
- The heap of a warmed-up sidecar (models, pools, the first requests' lazy imports) is frozen
  once, right after the first full collection past `WARM_S`: full collections then walk only
  what came later. Frozen right after a full one, it holds no garbage; an object frozen that
  dies later is still freed by reference counting (only a cycle among such objects would stay).
"""

from __future__ import annotations

import gc
import time
from typing import Any

YOUNG_THRESHOLD = 2_000
WARM_S = 30.0

_warm_after = 0.0
_frozen = False


def tune_for_serving(now: float | None = None) -> None:
    """Set the thresholds and arm the one-time freeze (idempotent)."""
    global _warm_after
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    _warm_after = (time.monotonic() if now is None else now) + WARM_S
    if _freeze_when_warm not in gc.callbacks:
        gc.callbacks.append(_freeze_when_warm)


def _freeze_when_warm(phase: str, info: dict[str, Any]) -> None:
    global _frozen
    if phase != "stop" or info.get("generation") != 2 or _frozen:
        return
    if time.monotonic() >= _warm_after:
        _frozen = True
        gc.freeze()  # after the collection: only survivors (gen 0-2 are otherwise empty)
        # (the callback stays registered: removing it while the collector walks its list of
        # callbacks would skip the next one)
