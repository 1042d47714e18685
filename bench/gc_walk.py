"""What the sidecar's garbage collections walk and free under a steady load (issue 18's stalls).

A full collection holds the GIL while it walks every tracked object not frozen (cli.py freezes
the start-up heap, gc_tuning.py the warm one): its length is the size of what was promoted
since. This starts one sidecar (the bench/peers/arbiter config, code from `--src`, pinned to
`--sidecar-core`; the mock and load generator on the other cores), sends an open loop of
`--rate` requests/s for `--seconds`, and, through a gc callback loaded first of all (a
`sitecustomize` on the sidecar's PYTHONPATH, not in the product), logs every collection:
per full one the objects it walked (generation 2 and the young ones merged into it), the frozen
count, what it freed, its thread and its CPU and wall time; per young one its count and what it
freed. Every `--full-every-s` a side thread of the sidecar runs one full collection itself, so
each run has full collections to read however rarely the idle collector makes them (their
walk is the one the idle collector's would take at that moment).

Printed: young collections per 1,000 requests and objects they freed per request (cyclic
garbage: what reference counting did not free), and per full collection the walk, freed, CPU
and wall. Counts, not times, are the figures that a loaded host does not move.

Usage: python bench/gc_walk.py [--src python] [--rate 300] [--seconds 60] [--full-every-s 20]
          [--sidecar-core 0]
Ends with one JSON line {"requests": n, "young_per_1000": y, "young_freed_per_request": f,
"full": [{"walked": w, "gen2": g, "young": y, "frozen": z, "freed": c, "cpu_ms": t, "wall_ms": u,
"thread": name}, ...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import _drive
from profile_overhead import PEERBENCH, PY, _config, _free_port, _stop, _wait

# loaded as sitecustomize in the sidecar only: appends one JSON line per collection to
# $GC_WALK_LOG (young ones as running totals, written with each full one and at exit)
_PROBE = """
import atexit, gc, json, os, threading, time
_log = os.environ["GC_WALK_LOG"]
_every = float(os.environ.get("GC_WALK_FULL_EVERY_S", "0"))
_young = {"runs": 0, "freed": 0}
_at = [0, 0, 0.0, 0.0]
def _write(row):
    with open(_log, "a") as f:
        f.write(json.dumps(row) + "\\n")
def _on_gc(phase, info):
    gen = info.get("generation")
    if gen != 2:
        if phase == "stop":
            _young["runs"] += 1
            _young["freed"] += info.get("collected", 0)
        return
    if phase == "start":  # counted before the clocks start: the walk's own time only
        _at[0] = len(gc.get_objects(2))
        _at[1] = len(gc.get_objects(1)) + len(gc.get_objects(0))
        _at[2], _at[3] = time.thread_time(), time.perf_counter()
        return
    _write({"full": {"gen2": _at[0], "young": _at[1], "walked": _at[0] + _at[1],
                     "frozen": gc.get_freeze_count(), "freed": info.get("collected", 0),
                     "cpu_ms": round((time.thread_time() - _at[2]) * 1e3, 3),
                     "wall_ms": round((time.perf_counter() - _at[3]) * 1e3, 3),
                     "thread": threading.current_thread().name},
            "young": dict(_young)})
gc.callbacks.insert(0, _on_gc)
atexit.register(lambda: _write({"young": dict(_young)}))
if _every > 0:
    def _full():
        while True:
            time.sleep(_every)
            gc.collect()
    threading.Thread(target=_full, name="gc-walk-full", daemon=True).start()
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default="python")
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--full-every-s", type=float, default=20.0)
    ap.add_argument("--sidecar-core", type=int, default=0)
    a = ap.parse_args(argv)
    others = os.sched_getaffinity(0) - {a.sidecar_core}
    if not others:
        ap.error("--sidecar-core needs another core for the mock and load generator")
    os.sched_setaffinity(0, others)  # inherited by the mock and the load generator
    work = Path(tempfile.mkdtemp(prefix="arbiter-gcwalk-"))
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_PROBE)
    log = work / "gc.jsonl"
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecar: subprocess.Popen[bytes] | None = None
    sent = 0
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        port = _free_port()
        env = dict(os.environ, PYTHONPATH=f"{a.src}{os.pathsep}{site}", GC_WALK_LOG=str(log))
        env["GC_WALK_FULL_EVERY_S"] = str(a.full_every_s)
        sidecar = subprocess.Popen(
            ["taskset", "-c", str(a.sidecar_core), str(PY), "-m", "arbiter", "serve",
             "--config", str(cfg), "--port", str(port)],
            env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        log.write_text("")  # start-up's collections are not the steady state's
        t0 = time.monotonic()
        load = os.getloadavg()[0]
        while time.monotonic() - t0 < a.seconds:
            r = _drive(port, "auto", False, a.rate * 5, f"r{a.rate}")  # 5 s a turn
            sent += int(r["ok"])
    finally:
        if sidecar is not None:
            _stop(sidecar)  # SIGTERM: its atexit writes the young totals
        _stop(mock)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    shutil.rmtree(work, ignore_errors=True)
    young = rows[-1]["young"] if rows else {"runs": 0, "freed": 0}
    full: list[dict[str, Any]] = [row["full"] for row in rows if "full" in row]
    n = max(sent, 1)
    out = {
        "requests": sent,
        "young_per_1000": round(young["runs"] * 1000 / n, 2),
        "young_freed_per_request": round(young["freed"] / n, 2),
        "full": full,
    }
    print(f"{sent} requests at {a.rate}/s (load average {load:.1f} at the start): young "
          f"collections {out['young_per_1000']} per 1,000 requests, freeing "
          f"{out['young_freed_per_request']} objects a request")  # fmt: skip
    for f in full:
        print(f"  full ({f['thread']}): walked {f['walked']} (generation 2 {f['gen2']}, young "
              f"{f['young']}; frozen {f['frozen']}), freed {f['freed']}, CPU {f['cpu_ms']} ms, "
              f"wall {f['wall_ms']} ms")  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
