"""Event-loop lag: how late a timer set on the sidecar's loop fires.

Anything that blocks the loop (a slow synchronous call, a big JSON encode, a logging handler
that waits on I/O, a store call made on the loop) delays every request in flight by the same
amount; a timer that should fire every `INTERVAL_S` sees it as lag. /metrics exposes the lag
as a histogram and its maximum since start, so a stall shows up without a profiler (and
bench/scale.py reads it for the tail curve). Cost: one wake-up per 10 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque

from arbiter import stalls

INTERVAL_S = 0.01
# a tick this late means the sidecar itself was starved (its core, the GIL, a collection): a call
# timed across it measured the sidecar too, not only the model (latency_slo.observe_attempts)
STARVED_S = 0.025
_last_starved = float("-inf")  # perf_counter at the end of the last starved tick (per process)
# lag bucket upper bounds, seconds (a stall > 10 ms is what the tail goal forbids)
BUCKETS_S: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


# the sidecar's own timing noise: the largest tick lag per second of the last NOISE_WINDOW_S
# (a ring of per-second maxima, [second, lag]); a call it times may have waited that long on the
# loop before its answer was read, so a latency "change" within it is the sidecar's, not the model's
NOISE_WINDOW_S = 5
_noise: list[list[float]] = [[-1.0, 0.0] for _ in range(NOISE_WINDOW_S)]


# the loop's lateness at a given moment, for the calls it times (late_s): the due time of the tick
# now awaited (inf while no monitor runs) and the recent late ticks, (due, fired), oldest first
_due = float("inf")
_late: deque[tuple[float, float]] = deque(maxlen=64)
LATE_S = 0.002  # a tick later than this is remembered in _late
# a read this soon after a late tick fired was held back by the same stall: the answer's bytes
# reach the reading task a loop turn or two after the turn that ran the tick
READ_SLACK_S = 0.005


def late_s(started: float, at: float | None = None) -> float:
    """How long before `at` (perf_counter; now by default) this process's loop had been too
    busy to run a due timer, at most `at - started`: a call timed from `started` that read its
    answer at `at` waited that long on the sidecar (a blocking callback, a collection, its
    queue), not on the upstream. Only the stall the read came out of counts: one that ended
    earlier held no answer (the loop reads whatever arrived in the turn after a stall)."""
    at = time.perf_counter() if at is None else at
    since = _due if _due < at else at
    for due, fired in reversed(_late):
        if fired < at - READ_SLACK_S:
            break
        since = min(since, due)
    return max(0.0, at - max(since, started))


# a call held back by the loop for at most this share of its time is taught less half the
# hold (within 5% either way); one held longer measured the sidecar, not the upstream
HELD_SHARE = 0.1


def upstream_s(elapsed_s: float, held_s: float) -> float | None:
    """A call's upstream time from its measured `elapsed_s` and how long the loop held its
    answer back (`late_s`), None when the hold leaves it unknown. The latency model and its
    change detector learn from this: fed the sidecar's stalls (a 709 ms reading of a 60 ms call
    on a busy host), a healthy model read as slowed down and a x3 as a x2 (lat26)."""
    if held_s <= 0.0:
        return elapsed_s
    return elapsed_s - held_s / 2 if held_s <= HELD_SHARE * elapsed_s else None


def starved_within(seconds: float) -> bool:
    """Whether this process's event loop ran a starved tick in the last `seconds`."""
    return time.perf_counter() - _last_starved <= seconds


def note_lag(lag_s: float, now: float) -> None:
    """Record one tick's lag (`now`: perf_counter seconds, when it fired) for `starved_within`
    and `noise_s`."""
    global _last_starved
    if lag_s > STARVED_S:
        _last_starved = now
    second, lag_s = float(int(now)), max(lag_s, 0.0)
    slot = _noise[int(second) % NOISE_WINDOW_S]
    if slot[0] != second:
        slot[0], slot[1] = second, lag_s
    elif lag_s > slot[1]:
        slot[1] = lag_s


def noise_s(now: float | None = None) -> float:
    """The largest loop lag this process saw in the last NOISE_WINDOW_S seconds (0 if none)."""
    second = float(int(time.perf_counter() if now is None else now))
    return max((lag for at, lag in _noise if second - at < NOISE_WINDOW_S), default=0.0)


class LoopLag:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)  # the last one is +Inf
        self.total_s = 0.0
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None
        path = os.environ.get("ARBITER_STALL_STACKS")  # diagnostics: stalls.StackWatch
        self._stacks = stalls.StackWatch(path) if path else None

    def start(self) -> None:
        _late.clear()
        stalls.watch_gc()
        if self._stacks is not None:
            self._stacks.start()
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        global _due
        _due = float("inf")  # no monitor: no lateness to subtract (late_s)
        if self._stacks is not None:
            self._stacks.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def observe(self, lag_s: float) -> None:
        lag_s = max(lag_s, 0.0)
        i = 0
        while i < len(BUCKETS_S) and lag_s > BUCKETS_S[i]:
            i += 1
        self.counts[i] += 1
        self.total_s += lag_s
        self.max_s = max(self.max_s, lag_s)

    async def _watch(self) -> None:
        global _due
        clock, cpu = time.perf_counter, time.thread_time
        try:
            while True:
                due = _due = clock() + INTERVAL_S
                cpu0 = cpu()  # this (the loop's) thread's CPU: did it run during a stall or wait?
                if self._stacks is not None:
                    self._stacks.due = due
                await asyncio.sleep(INTERVAL_S)
                now = clock()
                self._tick(due, now, cpu() - cpu0)
        finally:
            _due = float("inf")

    def _tick(self, due: float, now: float, cpu_s: float) -> None:
        if now - due > LATE_S:
            _late.append((due, now))
        self.observe(now - due)
        note_lag(now - due, now)
        if now - due > stalls.ATTRIBUTE_S:
            stalls.attribute(due, now, cpu_s)

    def metrics_text(self) -> str:
        """Prometheus text: the lag histogram and its maximum since start."""
        name = "arbiter_event_loop_lag_seconds"
        out = [
            f"# HELP {name} How late a {INTERVAL_S * 1000:g} ms timer on the event loop fired.",
            f"# TYPE {name} histogram",
        ]
        running = 0
        for bound, count in zip((*BUCKETS_S, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out.append(f"{name}_sum {self.total_s:.6f}")
        out.append(f"{name}_count {running}")
        out.append("# HELP arbiter_event_loop_lag_max_seconds The largest lag since start.")
        out.append("# TYPE arbiter_event_loop_lag_max_seconds gauge")
        out.append(f"arbiter_event_loop_lag_max_seconds {self.max_s:.6f}")
        return "\n".join(out) + "\n" + stalls.metrics_text()
