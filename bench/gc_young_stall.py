"""How long the young collections hold the GIL in a busy one-core loop: the idle collector
before and after its collections left SCHED_IDLE (gc_tuning.py), and the interpreter's own.

One process per arm and round, pinned to one core: an asyncio loop plays a sidecar at a fixed
rate (Poisson arrivals), each "request" allocating `--objects` small containers in a reference
cycle (a few kept for the next 50 requests, as in-flight state is; the rest freed only by a
collection, as the sidecar's ~10 net young allocations a request are) and spinning `--work-us`
of CPU, with
stalls.py's gc callbacks registered as `serve` has them. Arms:
  interpreter  no idle collector: CPython collects generation 0 every YOUNG_THRESHOLD net
               allocations, inside a request
  idle-before  the idle collector as it was: its thread at SCHED_IDLE throughout, collections
               included
  idle         the idle collector now: SCHED_IDLE only to decide, each collection at SCHED_OTHER
Per arm: young collections (generations 0-1): how many, their CPU (mean, p99, max ms), the
net young allocations when each began (the interpreter's count: what it walks; the threshold
is 2,000), and the loop's lateness (p99, max ms: when a request began minus when it was due).
Arms alternate (interpreter, idle-before, idle, ...) so a shared host's drift hits them alike.
Usage: python bench/gc_young_stall.py [--rate 800] [--work-us 500] [--seconds 10] [--rounds 2]
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

ARMS = ("interpreter", "idle-before", "idle")


def _spin(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


def _q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3) if xs else 0.0


def run_arm(arm: str, rate: float, work_us: float, objects: int, seconds: float) -> dict[str, Any]:
    from arbiter import gc_tuning, stalls

    young: list[tuple[float, int]] = []  # (CPU ms, net young allocations at its start)
    started: list[Any] = []

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.thread_time(), gc.get_count()[0]]
        elif info["generation"] < 2 and started:
            young.append(((time.thread_time() - started[0]) * 1e3, started[1]))

    gc.callbacks.insert(0, timer)  # first: it sees the count before any other callback runs
    stalls.watch_gc()  # the sidecar's own callbacks (Python: where the GIL can change hands)
    gc.collect()
    gc.freeze()
    collector = None
    if arm == "interpreter":
        gc.set_threshold(gc_tuning.YOUNG_THRESHOLD, 10, 10)
    else:
        collector = gc_tuning.IdleCollector()
        if not collector.start():
            return {"arm": arm, "why": "SCHED_IDLE (and back) not allowed here"}
        if arm == "idle-before":
            collector._boost = False  # the collections stay at SCHED_IDLE, as before
        gc.set_threshold(gc_tuning.BACKSTOP, 10, 10)

    async def drive() -> list[float]:
        rng = random.Random(1)
        late: list[float] = []
        alive: deque[list[Any]] = deque(maxlen=50)
        loop = asyncio.get_running_loop()
        t0 = due = loop.time() + 0.05
        while due < t0 + seconds:
            due += rng.expovariate(rate)
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            late.append(max(0.0, loop.time() - due) * 1e3)
            # a request's objects in a reference cycle (as futures, tracebacks and frames
            # are): only a collection frees them, so they count towards the threshold
            made: list[Any] = [{"i": i} for i in range(objects)]
            for d in made:
                d["up"] = made
            alive.append(made[:5])
            _spin(work_us)
        return late

    cpu0 = time.process_time()
    late = asyncio.run(drive())
    cpu = time.process_time() - cpu0
    if collector is not None:
        collector.stop()
    cpus, counts = [c for c, _ in young], [n for _, n in young]
    return {
        "arm": arm, "requests": len(late), "young_collections": len(young),
        "young_cpu_ms_mean": round(sum(cpus) / max(len(cpus), 1), 3),
        "young_cpu_ms_p99": _q(cpus, 0.99), "young_cpu_ms_max": _q(cpus, 1.0),
        "young_count_at_start_p50": _q(counts, 0.5), "young_count_at_start_max": _q(counts, 1.0),
        "young_over_5ms": sum(c > 5 for c in cpus),
        "late_p99_ms": _q(late, 0.99), "late_max_ms": _q(late, 1.0),
        "cpu_us_per_request": round(cpu / max(len(late), 1) * 1e6, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=800.0, help="requests/s")
    ap.add_argument("--work-us", type=float, default=500.0, help="loop CPU per request")
    ap.add_argument("--objects", type=int, default=15, help="containers made per request")
    ap.add_argument("--seconds", type=float, default=10.0, help="per arm and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--arm", help=argparse.SUPPRESS)  # one arm, in this process (the child)
    args = ap.parse_args()
    if args.arm:
        os.sched_setaffinity(0, {args.core})
        print(json.dumps(run_arm(args.arm, args.rate, args.work_us, args.objects, args.seconds)))
        return 0
    rows = []
    for r in range(args.rounds):
        for arm in args.arms.split(","):
            cmd = [sys.executable, __file__, "--arm", arm, "--rate", str(args.rate),
                   "--work-us", str(args.work_us), "--objects", str(args.objects),
                   "--seconds", str(args.seconds), "--core", str(args.core)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60)
            row = json.loads(out.stdout.strip().splitlines()[-1]) | {"round": r + 1}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
