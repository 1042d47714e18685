"""Run `arbiter serve` with garbage-collector and memory instrumentation, for profiling only.

Adds a gc callback that times every collection per generation and, every --every seconds, writes
one JSON line (collections, pause total/max per generation, RSS, gc counts) to --stats. Changes
nothing else unless asked (--switch-interval, --gc-threshold: what-if experiments).
Usage: python bench/profile_serve.py --stats FILE -- serve --config C --port P
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")


class GcStats:
    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.max_ms = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self._t0 = 0.0

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        gen = info["generation"]
        ms = (time.perf_counter() - self._t0) * 1000
        self.count[gen] += 1
        self.total_ms[gen] += ms
        self.max_ms[gen] = max(self.max_ms[gen], ms)
        self.collected[gen] += info.get("collected", 0)

    def snapshot(self) -> dict[str, Any]:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * _PAGE
        return {
            "t": round(time.time(), 3),
            "rss_mb": round(rss / 2**20, 1),
            "gc_collections": self.count,
            "gc_total_ms": [round(x, 2) for x in self.total_ms],
            "gc_max_ms": [round(x, 2) for x in self.max_ms],
            "gc_collected": self.collected,
            "gc_counts": gc.get_count(),
            "gc_threshold": gc.get_threshold(),
            "gc_frozen": gc.get_freeze_count(),
            "threads": threading.active_count(),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stats", required=True, help="JSON-lines file to append snapshots to")
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval")
    ap.add_argument("--gc-threshold", default=None, help="e.g. 7000,20,20 (gc.set_threshold)")
    ap.add_argument(
        "--garbage-after",
        type=float,
        default=None,
        help="keep cyclic garbage (gc.DEBUG_SAVEALL) from this many seconds on, and write the "
        "most common types of it to --stats with each snapshot (finds per-request cycles)",
    )
    ap.add_argument("arbiter_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.switch_interval is not None:
        sys.setswitchinterval(a.switch_interval)
    if a.gc_threshold:
        gc.set_threshold(*(int(x) for x in a.gc_threshold.split(",")))
    stats = GcStats()
    gc.callbacks.append(stats.callback)
    stop = threading.Event()

    t_start = time.monotonic()

    def writer() -> None:
        with open(a.stats, "a") as f:
            while not stop.wait(a.every):
                snap = stats.snapshot()
                if a.garbage_after is not None and time.monotonic() - t_start > a.garbage_after:
                    if not gc.get_debug() & gc.DEBUG_SAVEALL:
                        gc.set_debug(gc.DEBUG_SAVEALL)
                    kinds = Counter(type(o).__qualname__ for o in gc.garbage)
                    snap["garbage"] = len(gc.garbage)
                    snap["garbage_types"] = kinds.most_common(25)
                f.write(json.dumps(snap) + "\n")
                f.flush()

    threading.Thread(target=writer, name="gc-stats", daemon=True).start()
    from arbiter.cli import main as arbiter_main

    args = [x for x in a.arbiter_args if x != "--"]
    try:
        return arbiter_main(args)
    finally:
        stop.set()


if __name__ == "__main__":
    raise SystemExit(main())
