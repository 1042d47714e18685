"""Opt-in: keep the event loop polling for a short window after its last work, instead of sleeping.

A request that arrives alone costs ~1.8x the CPU of one in a burst on this project's hosts
(bench/results/scale.md): the same calls run 1.5-3x slower after the loop has slept (the vCPU
halts, the core runs other work, caches, TLB and branch predictors come back cold). This keeps
the loop awake for `server.idle_poll_us` after anything ran on it: one callback that
reschedules itself with `call_soon`, so the loop's next iteration polls epoll with a zero
timeout instead of blocking. Work that arrives inside the window (the upstream's answer, the
next request) is picked up by a thread that never slept.

The window restarts at every client read (`wake`) and at any loop iteration that used more
than `BUSY_GAP_S` of CPU (something else ran between two of this callback's runs: a request's
step, an upstream's answer relayed); after `window_s` with nothing but the polls themselves, the
callback stops rescheduling and the loop blocks as usual. Trade-off: the core is kept busy
for up to `window_s` after each burst of work, i.e. CPU burned while idle (bench/results/
scale.md, "spin18"); 0 (the default) installs nothing.

Other threads are not starved: uvloop releases the GIL around each loop iteration's poll, and
the window ends on its own, so a SCHED_IDLE thread (the idle collector) runs in the gaps
between windows and the recorder's niced writer gets its CFS share as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# This much of the loop thread's CPU between two polls means the loop ran something else in
# between: a request's step (parse and plan, or the upstream's answer relayed and recorded)
# is several hundred microseconds; one empty iteration (a zero-timeout epoll and this
# callback) ~1.3 us. CPU, not wall time: on a shared core the polling thread is preempted for
# milliseconds at a time, and a wall-clock gap restarted the window at every preemption (on a
# loaded host it then never ended). Not lower: the first poll after a preemption is charged
# 50-100 us (the switch, and the cold caches after it: 40 of 44,000 polls in a second on a
# loaded 2-core VM), which must not count as work either
BUSY_GAP_S = 200e-6
MAX_WINDOW_US = 100_000  # config ceiling: longer only burns CPU (a 100 ms gap is not a burst)


class IdlePoll:
    """Keeps one loop iterating for `window_s` after its last work (module text)."""

    def __init__(
        self,
        window_s: float,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.window_s = window_s
        self._clock, self._cpu_clock = clock, cpu_clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active = False  # a poll callback is scheduled
        self._last_cpu = 0.0  # the loop thread's CPU time at the last poll
        self._last_work = 0.0  # wall time of the last work seen
        self.polls = 0  # polls run (each one loop iteration kept awake), for tests and benches
        self.windows = 0  # windows begun from a sleeping loop
        # the loop thread's CPU seconds between two polls with nothing else run in between:
        # what keeping the loop awake burned, on /metrics
        self.idle_s = 0.0

    @property
    def active(self) -> bool:
        return self._active

    def wake(self, loop: asyncio.AbstractEventLoop) -> None:
        """Work arrived (a client's bytes): (re)start the window on `loop`."""
        now = self._clock()
        self._last_work = now
        if self._active:
            return
        self._loop, self._active = loop, True
        self._last_cpu = self._cpu_clock()
        self.windows += 1
        loop.call_soon(self._poll)

    def _poll(self) -> None:
        now, cpu = self._clock(), self._cpu_clock()
        self.polls += 1
        used, self._last_cpu = cpu - self._last_cpu, cpu
        if used > BUSY_GAP_S:
            self._last_work = now  # the loop did other work since the last poll
        else:
            self.idle_s += used
        loop = self._loop
        if now - self._last_work < self.window_s and loop is not None and not loop.is_closed():
            loop.call_soon(self._poll)
        else:
            self._active = False

    def metrics_text(self) -> str:
        """Prometheus text: the time and windows spent polling instead of sleeping."""
        name = "arbiter_idle_poll"
        return (
            f"# HELP {name}_seconds_total Seconds the event loop polled with nothing to do "
            "(server.idle_poll_us).\n"
            f"# TYPE {name}_seconds_total counter\n"
            f"{name}_seconds_total {self.idle_s:.6f}\n"
            f"# HELP {name}_windows_total Poll windows begun from a sleeping loop.\n"
            f"# TYPE {name}_windows_total counter\n"
            f"{name}_windows_total {self.windows}\n"
        )
