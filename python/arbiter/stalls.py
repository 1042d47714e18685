"""Stall attribution: what else ran while the event loop was late.

The loop-lag monitor (loop_lag.py) says *that* the loop stalled; this says what was running at
the time. Each periodic source that can hold the GIL or the core records the intervals it ran
(perf_counter start/end) and its CPU seconds: full and young garbage collections (gc.callbacks),
the recorder's batches, the policy sync passes and log lines written. A lag event over
`ATTRIBUTE_S` is charged to every source with an interval overlapping it ("none" when nothing
did: the scheduler, or work on the loop itself). Sources are process-wide, like the GIL and the
collector they measure. Cost: two clock reads per collection, background pass and log line.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ATTRIBUTE_S = 0.005  # lag events above this are attributed (the goal forbids > 10 ms)
_KEEP = 256  # recent intervals kept per source: covers a lag event's window at any rate here


class Source:
    """One kind of periodic work: its recent run intervals and totals (CPU and wall)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.runs = 0
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.max_wall_s = 0.0
        self.max_cpu_s = 0.0
        self.over_10ms = 0  # runs whose wall time exceeded 10 ms
        self.stalls = 0  # loop-lag events over ATTRIBUTE_S this source overlapped
        # no lock: a collection can start inside record() and re-enter it through the gc
        # callback (a lock would deadlock there); the counters are diagnostics, and a lost
        # increment under a thread race is acceptable
        self._recent: deque[tuple[float, float]] = deque(maxlen=_KEEP)

    def record(self, start: float, end: float, cpu_s: float) -> None:
        wall = end - start
        self._recent.append((start, end))
        self.runs += 1
        self.wall_s += wall
        self.cpu_s += cpu_s
        self.max_wall_s = max(self.max_wall_s, wall)
        self.max_cpu_s = max(self.max_cpu_s, cpu_s)
        if wall > 0.010:
            self.over_10ms += 1

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time the block: wall clock and this thread's CPU (its share of the core and GIL)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.record(t0, time.perf_counter(), time.thread_time() - c0)

    def run(self, fn: Callable[[], None]) -> None:
        """fn(), measured (for asyncio.to_thread)."""
        with self.measure():
            fn()

    def overlaps(self, start: float, end: float) -> bool:
        for _ in range(3):
            try:
                recent = tuple(self._recent)
                break
            except RuntimeError:  # appended to while copied (another thread): look again
                continue
        else:
            return False
        return any(s < end and e > start for s, e in recent)


GC_YOUNG = Source("gc_young")  # generations 0 and 1
GC_FULL = Source("gc_full")  # generation 2: the whole (unfrozen) heap
RECORDER = Source("recorder_batch")
SYNC = Source("policy_sync")
LOG = Source("log_write")  # each log line written (logs.py): a full stderr pipe blocks the writer
SOURCES: tuple[Source, ...] = (GC_YOUNG, GC_FULL, RECORDER, SYNC, LOG)
unattributed = 0  # lag events over ATTRIBUTE_S that no source overlapped
# lag events by what the loop's own thread did meanwhile: ran (its CPU time covered at least
# half of the lag: callbacks, requests, a collection it ran) or did not (it waited for the GIL
# or for a core: another thread or process had them)
loop_ran = 0
loop_waited = 0
_gc_started = (0.0, 0.0)  # (perf_counter, thread_time) of the collection in progress


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = (time.perf_counter(), time.thread_time())
        return
    # a collection holds the GIL throughout (the loop waits all of its wall time); its CPU
    # time is the collector's own work, the rest the OS's preemption on a busy core
    start, cpu = _gc_started
    source = GC_FULL if info.get("generation") == 2 else GC_YOUNG
    source.record(start, time.perf_counter(), time.thread_time() - cpu)


def watch_gc() -> None:
    """Time every collection (idempotent)."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


def attribute(start: float, end: float, loop_cpu_s: float | None = None) -> None:
    """Charge a loop-lag event (the loop was late from `start` to `end`) to what overlapped it;
    `loop_cpu_s`: the loop thread's CPU time from the timer's start to `end`."""
    global unattributed, loop_ran, loop_waited
    if loop_cpu_s is not None:
        if loop_cpu_s >= (end - start) / 2:
            loop_ran += 1
        else:
            loop_waited += 1
    hit = False
    for source in SOURCES:
        if source.overlaps(start, end):
            source.stalls += 1
            hit = True
    if not hit:
        unattributed += 1


def metrics_text() -> str:
    """Prometheus text: per source, runs, CPU and wall seconds, the longest run and the loop
    stalls it overlapped."""
    out = [
        "# HELP arbiter_background_runs_total Runs of periodic work that competes with the loop.",
        "# TYPE arbiter_background_runs_total counter",
    ]
    for s in SOURCES:
        out.append(f'arbiter_background_runs_total{{source="{s.name}"}} {s.runs}')
    out += [
        "# HELP arbiter_background_cpu_seconds_total CPU seconds of that work (its thread's).",
        "# TYPE arbiter_background_cpu_seconds_total counter",
    ]
    for s in SOURCES:
        out.append(f'arbiter_background_cpu_seconds_total{{source="{s.name}"}} {s.cpu_s:.6f}')
    out += [
        "# HELP arbiter_background_max_seconds The longest run since start (wall, cpu).",
        "# TYPE arbiter_background_max_seconds gauge",
    ]
    for s in SOURCES:
        out.append(f'arbiter_background_max_seconds{{source="{s.name}",clock="wall"}} '
                   f"{s.max_wall_s:.6f}")  # fmt: skip
        out.append(f'arbiter_background_max_seconds{{source="{s.name}",clock="cpu"}} '
                   f"{s.max_cpu_s:.6f}")  # fmt: skip
    out += [
        "# HELP arbiter_background_runs_over_10ms_total Runs longer than 10 ms (wall).",
        "# TYPE arbiter_background_runs_over_10ms_total counter",
    ]
    for s in SOURCES:
        out.append(f'arbiter_background_runs_over_10ms_total{{source="{s.name}"}} {s.over_10ms}')
    ms = ATTRIBUTE_S * 1000
    out += [
        f"# HELP arbiter_event_loop_stalls_total Loop-lag events over {ms:g} ms, by what ran "
        "during them (an event may count for several sources; none: no source ran).",
        "# TYPE arbiter_event_loop_stalls_total counter",
    ]
    for s in SOURCES:
        out.append(f'arbiter_event_loop_stalls_total{{source="{s.name}"}} {s.stalls}')
    out.append(f'arbiter_event_loop_stalls_total{{source="none"}} {unattributed}')
    name = "arbiter_event_loop_stalls_by_loop_thread_total"
    out += [
        f"# HELP {name} Loop-lag events over {ms:g} ms by whether the loop's thread ran (its CPU "
        "time covered half the lag or more: its own work) or waited (for the GIL or a core).",
        f"# TYPE {name} counter",
        f'{name}{{state="ran"}} {loop_ran}',
        f'{name}{{state="waited"}} {loop_waited}',
    ]
    return "\n".join(out) + "\n"


class StackWatch:
    """Diagnostics only (bench/scale.py's tail sets ARBITER_STALL_STACKS=<file>): a thread that
    wakes every 2 ms and, when the loop's 10 ms timer is over `late_s` overdue, takes the loop
    thread's stack once per stall; the counts of the innermost frames go to the file on stop.
    The thread needs the GIL to look, so a stall that holds the GIL (a collection, a C call)
    is seen just after it ends: read the stacks with the gc sources above."""

    def __init__(self, path: str, late_s: float = 0.005) -> None:
        self.path = path
        self.late_s = late_s
        self.due = 0.0  # when the loop's next tick is due (set by the loop)
        self.loop_thread = threading.get_ident()
        self.stacks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arbiter-stallwatch", daemon=True)

    def start(self) -> None:
        self.loop_thread = threading.get_ident()  # called on the loop's thread
        self.full: list[dict[str, Any]] = []  # per full collection: heap size, collected, cpu
        gc.callbacks.append(self._on_gc)
        self._thread.start()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._gc0 = (time.thread_time(), sum(len(gc.get_objects(g)) for g in range(3)))
            return
        cpu, objects = self._gc0
        self.full.append({"objects": objects, "collected": info.get("collected"),
                          "cpu_ms": round((time.thread_time() - cpu) * 1e3, 2),
                          "frozen": gc.get_freeze_count()})  # fmt: skip

    def _run(self) -> None:
        import sys
        import traceback

        seen = 0.0
        while not self._stop.wait(0.002):
            due = self.due
            if due and due != seen and time.perf_counter() - due > self.late_s:
                seen = due
                frame = sys._current_frames().get(self.loop_thread)
                if frame is None:
                    continue
                lines = traceback.format_list(traceback.extract_stack(frame)[-8:])
                key = "".join(line.split("\n")[0] + "\n" for line in lines)
                self.stacks[key] = self.stacks.get(key, 0) + 1

    def stop(self) -> None:
        import json

        self._stop.set()
        self._thread.join(1.0)
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        top = sorted(self.stacks.items(), key=lambda kv: -kv[1])
        with open(self.path, "w") as f:
            stacks = [{"count": n, "stack": k} for k, n in top]
            json.dump({"full_collections": self.full, "stacks": stacks}, f, indent=1)
