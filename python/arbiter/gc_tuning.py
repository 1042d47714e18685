"""The garbage collector's settings for a serving process (`arbiter serve`).

A collection holds the GIL: the event loop waits for all of it. Two levers keep them short:
- Young collections every 2,000 net allocations instead of 700 (10,000 made each young
  collection a stall of its own: up to 18.6 ms, bench/results/scale.md): a request's objects
  are freed by reference counting when it ends (no cycles on the request path:
  tests/test_disconnect_cycles.py, tests/test_request_cycles.py; a cycle per request, its plan
  and charge, had the young collections at 300 req/s free ~520 objects each until the twentieth
  session); a collection while a request is in flight promotes its live
  objects, and at 700 a request alive for a few milliseconds under load reached the oldest
  generation, whose full collections then ran every second or two (10-80 ms each).
- The heap of a warmed-up sidecar (models, pools, the first requests' lazy imports) is frozen
  once, right after the first full collection past `WARM_S`: full collections then walk only
  what came later. Frozen right after a full one, it holds no garbage; an object frozen that
  dies later is still freed by reference counting (only a cycle among such objects would stay).
- Collections on the core's spare time (`IdleCollector`): an automatic collection runs inside
  the allocation that crosses the threshold, a request's, so that request and every one queued
  behind it wait for all of it (the `gc_young` loop stalls at 50% load, bench/results/scale.md).
  A thread at Linux's SCHED_IDLE (it runs only when the core has nothing else to run) looks
  now and then and collects as CPython would: generation 0 once YOUNG_THRESHOLD net
  allocations have built up, generation 1 every threshold1-th time, the whole heap every
  threshold2-th of those but at most once per FULL_EVERY_S (CPython's own rule, that the
  long-lived objects pending exceed 25% of the heap, is not visible from Python). Collections
  then fall in the gaps between requests. The interpreter's own trigger stays armed at
  BACKSTOP for a saturated core, where an idle thread hardly runs. Where SCHED_IDLE is not to
  be had, nothing changes. It looks again after half the time the allocations since its last
  look project to the threshold, between POLL_S and MAX_POLL_S: each look is a thread wake-up
  and a GIL hand-off (~40 us of CPU on the shared VM), and a fixed 5 ms poll made 200 of them
  a second whatever the load (bench/results/scale.md, ninth session).
- Each collection itself runs at SCHED_OTHER (`IdleCollector` leaves SCHED_IDLE for it and goes
  back after): only the decision to collect waits for spare time. A collection sets CPython's
  "collecting" flag before it calls the gc callbacks (stalls.py's timer, the freeze above), and
  a callback is Python: the thread can hand the GIL to the loop there, and an idle thread then
  waits for the core's next idle moment, for as long as the loop is busy (up to 1 s with the
  sidecar's core saturated), while the flag keeps the interpreter's own trigger from firing.
  Young objects piled up meanwhile (up to 31,000 net allocations against a threshold of 2,000),
  and the collection, holding the GIL in C once it ran, took 10-40 ms of CPU: the "young"
  collections of 32-40 ms in the tail bench (bench/results/scale.md, nineteenth session). The
  same held for a collection preempted mid-way by any other task on the core. Leaving
  SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE that allows it; where the thread cannot, the
  idle collector is not used (the interpreter collects at YOUNG_THRESHOLD, as without
  SCHED_IDLE).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from arbiter.writer_priority import set_policy

YOUNG_THRESHOLD = 2_000
WARM_S = 30.0
POLL_S = 0.005  # the shortest wait between looks (when a collection is about due)
MAX_POLL_S = 0.1  # the longest (nothing allocating; the backstop covers a sudden burst)
BACKSTOP = 6_000  # the interpreter's own young trigger while the idle collector runs
FULL_EVERY_S = 20.0

_warm_after = 0.0
_frozen = False


def tune_for_serving(now: float | None = None, *, idle_collector: bool = False) -> None:
    """Set the thresholds and arm the one-time freeze (idempotent); `idle_collector`: collect
    on the core's spare time where the OS allows (see the module's text)."""
    global _warm_after, _idle
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    _warm_after = (time.monotonic() if now is None else now) + WARM_S
    if _freeze_when_warm not in gc.callbacks:
        gc.callbacks.append(_freeze_when_warm)
    if idle_collector and _idle is None:
        _idle = IdleCollector()
        if _idle.start():
            gc.set_threshold(BACKSTOP, middle, old)
        else:
            _idle = None


class IdleCollector:
    """Runs CPython's generational collections from a SCHED_IDLE thread (module text)."""

    def __init__(
        self,
        young: int = YOUNG_THRESHOLD,
        poll_s: float = POLL_S,
        full_every_s: float = FULL_EVERY_S,
        max_poll_s: float = MAX_POLL_S,
    ) -> None:
        self._young, self._poll_s, self._full_every_s = young, poll_s, full_every_s
        self._max_poll_s = max(max_poll_s, poll_s)
        self._seen: tuple[float, int] | None = None  # (when, young count) after the last look
        self.polls = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._idle = False
        # the collections leave SCHED_IDLE (module text); set on the collector's own thread
        self._boost = False
        self._last_full = time.monotonic()
        self.collections = [0, 0, 0]  # by generation
        self.thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the thread; False (and no thread) where it cannot run at SCHED_IDLE."""
        self.thread = threading.Thread(target=self._run, name="arbiter-gc-idle", daemon=True)
        self.thread.start()
        self._ready.wait(5.0)
        if not self._idle:
            self.thread.join(5.0)
            self.thread = None
        return self._idle

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(5.0)

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
            # idle only if each collection can leave SCHED_IDLE and come back (module text)
            self._idle = self._boost = set_policy(False) and set_policy(True)
        self._ready.set()
        wait = self._poll_s
        while self._idle and not self._stop.wait(wait):
            wait = self.poll(time.monotonic())

    def poll(self, now: float) -> float:
        """One look: collect what is due; the seconds to wait before the next look."""
        self.polls += 1
        young = gc.get_count()[0]
        self.collect_due()
        after = gc.get_count()[0]
        seen, self._seen = self._seen, (now, after)
        if seen is None or now <= seen[0]:
            return self._poll_s
        rate = (young - seen[1]) / (now - seen[0])  # net young allocations per second
        if rate <= 0:
            return self._max_poll_s
        return min(max((self._young - after) / rate / 2, self._poll_s), self._max_poll_s)

    def collect_due(self) -> int:
        """Collect the generation CPython would collect now (-1: none is due)."""
        young, middle, _ = gc.get_count()
        if young < self._young or _paused:  # (a big body's decode: collector_paused)
            return -1
        _, t1, t2 = gc.get_threshold()
        gen = 0
        if middle >= t1:
            gen = 1
            now = time.monotonic()
            if gc.get_count()[2] >= t2 and now - self._last_full >= self._full_every_s:
                gen, self._last_full = 2, now
        # at SCHED_OTHER while it runs: a collection that yields the GIL in a callback, or is
        # preempted, gets the core back within a switch interval, not at the next idle moment
        boosted = self._boost and set_policy(False)
        try:
            gc.collect(gen)
        finally:
            if boosted:
                set_policy(True)
        self.collections[gen] += 1
        return gen


_idle: IdleCollector | None = None

_pause_lock = threading.Lock()  # decode threads run at once: the count and the first's state
_paused = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No collection, automatic or the idle collector's, while any caller is inside (a big
    body's decode: surfaces/decode.py); the collector back as it was after the last."""
    global _paused, _was_enabled
    with _pause_lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()


def _freeze_when_warm(phase: str, info: dict[str, Any]) -> None:
    global _frozen
    if phase != "stop" or info.get("generation") != 2 or _frozen:
        return
    if time.monotonic() >= _warm_after:
        _frozen = True
        gc.freeze()  # after the collection: only survivors (gen 0-2 are otherwise empty)
        # (the callback stays registered: removing it while the collector walks its list of
        # callbacks would skip the next one)
