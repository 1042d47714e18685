"""CPU-seconds per request in the sidecar, per path, for code variants side by side (issue 18).

The tail at a fixed utilisation scales with the service time, so this measures the one lever
left on one core: the sidecar's CPU per request. Per variant it starts a sidecar (`python -m
arbiter serve`, the bench/peers/arbiter config) in front of peerbench's mock upstream, warms it,
then sends bursts of requests at C=1 per path (routed `auto`, the named model
`mock-gpt`, streamed `auto`) and reads the sidecar's CPU time (all threads) from /proc. Nothing is
pinned (the host is shared; the lead may pin us): CPU time, not wall time, is the figure.
Every variant's sidecar runs at once and they take turns, a short burst each (ABBA order), so
each sees the same machine load: on a shared host the load moves by more than the cuts measured.

Load shapes (`--shapes`): `c1` (the default) one request at a time back to back; `cN` a closed
loop of N connections (`c64`: what the tail bench's max is taken with); `rN` an open loop of N
requests/s on a fixed schedule (`r1000`: one every 1 ms, mostly alone in the sidecar: how the
tail bench's 50% and 80% windows send). A request that arrives alone pays for everything that a
busy loop shares between the requests of one wake-up (the event-loop thread's sleeps and
wake-ups, its empty iterations, cold caches), so per shape the table also gives the event-loop
thread's wake-ups per request (voluntary context switches, /proc/PID/task/PID/status) and every
variant's cost at rest (CPU ms and wake-ups per second of all its threads, no requests).

A variant may carry its own start.sh settings: `--variant idle=python,ARBITER_BENCH_WRITER=process,
ARBITER_BENCH_WRITER_PRIORITY=idle` runs that code with the recorder's writes in an idle child
process. `_child` columns: the CPU of the sidecar's child processes (such a writer), per request;
the main columns count the serving process alone.

Usage: python bench/cpu_per_request.py --variant base=/work/main/python --variant new=python
          [--burst 400] [--rounds 10] [--paths auto,named,stream] [--shapes c1,c64,r1000]
Prints a table and ends with one JSON line {"VARIANT": {"PATH[@SHAPE]": median_cpu_ms_per_req,
..., "idle_cpu_ms_per_s": x, "idle_wakeups_per_s": y}} (c1's keys carry no @SHAPE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_overhead import (
    PEERBENCH,
    PY,
    _config,
    _free_port,
    _stop,
    _wait,
)

# (label, loadgen model, streamed)
PATHS: dict[str, tuple[str, bool]] = {
    "auto": ("auto", False),
    "named": ("mock-gpt", False),
    "stream": ("auto", True),
}


def _shape_args(shape: str) -> list[str]:
    """loadgen's arguments for a load shape: cN (closed loop, N connections), rN (open loop,
    N requests/s)."""
    kind, num = shape[0], int(shape[1:])
    if kind == "r":
        return ["--rate", str(num), "-c", "1"]
    return ["-c", str(num)]


def _drive(port: int, model: str, stream: bool, n: int, shape: str = "c1") -> dict[str, Any]:
    argv = [str(PY), str(PEERBENCH / "loadgen.py"), "--url", f"http://127.0.0.1:{port}"]
    argv += ["--model", model, *_shape_args(shape), "-n", str(n), "-d", "120"]
    argv += ["--warmup", "0", "--json"]
    argv += ["--stream"] if stream else []
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def thread_stats(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (CPU ns, voluntary wake-ups)} of every thread of `pid`, from the scheduler's
    nanosecond run times and the thread's status."""
    out: dict[int, tuple[int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
        at = status.index("voluntary_ctxt_switches:")
        out[int(tid)] = (ns, int(status[at:].split(None, 2)[1]))
    return out


def cpu_of(pid: int) -> tuple[float, float, int, int]:
    """(CPU seconds of every thread of `pid`, of its main thread, wake-ups of every thread, of
    the main thread) (Sidecar.cpu)."""
    threads = thread_stats(pid)
    loop_ns, loop_wakes = threads.get(pid, (0, 0))
    total = sum(ns for ns, _ in threads.values()) / 1e9
    wakes = sum(w for _, w in threads.values())
    return total, loop_ns / 1e9, wakes, loop_wakes


class Sidecar:
    """One sidecar process running the code under `src`."""

    def __init__(self, name: str, src: str, cfg: Path) -> None:
        self.name, self.port = name, _free_port()
        argv = [str(PY), "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            argv,
            env=dict(os.environ, PYTHONPATH=src),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def cpu(self) -> tuple[float, float, int, int]:
        """(CPU seconds of every thread, of the event-loop thread, wake-ups of every thread,
        of the event-loop thread), from the scheduler's nanosecond run times: /proc's
        utime/stime are sampled at each 10 ms tick, and on a C=1 ping-pong between three
        processes that sampling alone is +-10% over a 1,000-request burst. A wake-up is a
        voluntary context switch: the thread slept (epoll, a timer, a lock) and was woken.
        (Threads that exited meanwhile are not counted: the sidecar's live for good.)"""
        return cpu_of(self.proc.pid)

    def child_cpu(self) -> float:
        """CPU seconds of the sidecar's child processes (the recorder's writer process)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            return 0.0
        total = 0.0
        for kid in kids:
            try:
                total += cpu_of(kid)[0]
            except OSError:  # it just exited (a writer process restarts)
                continue
        return total

    def burst(self, model: str, stream: bool, n: int, shape: str = "c1") -> tuple[float, ...]:
        """Per request over `n` requests of `shape`: CPU ms (all threads, event loop), the
        event loop's wake-ups, and the child processes' CPU ms."""
        cpu0, loop0, _, wake0 = self.cpu()
        kid0 = self.child_cpu()
        r = _drive(self.port, model, stream, n, shape)
        cpu1, loop1, _, wake1 = self.cpu()
        kid1 = self.child_cpu()
        if r["errors"]:
            raise SystemExit(f"{self.name}: errors {r['errors']}")
        ok = max(r["ok"], 1)
        return ((cpu1 - cpu0) * 1000 / ok, (loop1 - loop0) * 1000 / ok, (wake1 - wake0) / ok,
                (kid1 - kid0) * 1000 / ok)  # fmt: skip

    def at_rest(self, seconds: float) -> tuple[float, float]:
        """(CPU ms, wake-ups) per second of all threads with no requests: the timers and
        background threads that run whatever the load (a request that finds the loop asleep
        pays for its wake-up too)."""
        cpu0, _, wake0, _ = self.cpu()
        time.sleep(seconds)
        cpu1, _, wake1, _ = self.cpu()
        return (cpu1 - cpu0) * 1000 / seconds, (wake1 - wake0) / seconds


def measure(sidecars: list[Sidecar], a: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Per path and shape, bursts of `a.burst` requests to each sidecar in turn (`a.rounds`
    times), so that every variant sees the same machine load: per variant, path and shape,
    each burst's figure; then each variant's cost at rest, in turns too."""
    rows: dict[str, dict[str, list[float]]] = {s.name: {} for s in sidecars}
    for label in a.paths:
        model, stream = PATHS[label]
        for shape in a.shapes:
            key = label if shape == "c1" else f"{label}@{shape}"
            for s in sidecars:
                s.burst(model, stream, max(200, a.burst), shape)  # warm pools and lazy paths
            for rnd in range(a.rounds):
                order = sidecars if rnd % 2 == 0 else sidecars[::-1]  # ABBA: no order bias
                for s in order:
                    cpu, loop, wakes, kids = s.burst(model, stream, a.burst, shape)
                    rows[s.name].setdefault(key, []).append(cpu)
                    rows[s.name].setdefault(f"{key}_loop", []).append(loop)
                    rows[s.name].setdefault(f"{key}_wakes", []).append(wakes)
                    rows[s.name].setdefault(f"{key}_child", []).append(kids)
            print(
                json.dumps({"path": key, **{s.name: rows[s.name][key] for s in sidecars}}),
                file=sys.stderr,
                flush=True,
            )
    for rnd in range(a.rounds if a.rest_s > 0 else 0):
        for s in sidecars if rnd % 2 == 0 else sidecars[::-1]:
            cpu_ms, wakes = s.at_rest(a.rest_s)
            rows[s.name].setdefault("idle_cpu_ms_per_s", []).append(cpu_ms)
            rows[s.name].setdefault("idle_wakeups_per_s", []).append(wakes)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=DIR[,ARBITER_BENCH_X=VALUE...] (repeatable)")  # fmt: skip
    ap.add_argument("--burst", type=int, default=400, help="requests per burst")
    ap.add_argument("--rounds", type=int, default=10, help="bursts per variant and path")
    ap.add_argument("--paths", default="auto,named,stream")
    ap.add_argument(
        "--shapes",
        default="c1",
        help="load shapes: c1 (one at a time), cN (N connections), rN (N req/s)",
    )
    ap.add_argument(
        "--rest-s", type=float, default=1.0, help="seconds per turn at rest (no requests; 0: skip)"
    )
    a = ap.parse_args(argv)
    a.burst = min(max(a.burst, 100), 20_000)
    a.rounds = min(max(a.rounds, 1), 50)
    a.paths = [p for p in a.paths.split(",") if p in PATHS]
    a.shapes = [x for x in a.shapes.split(",") if re.fullmatch(r"[cr][1-9][0-9]{0,4}", x)]
    a.rest_s = min(max(a.rest_s, 0.0), 10.0)
    work = Path(tempfile.mkdtemp(prefix="arbiter-cpu-"))
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sidecars: list[Sidecar] = []
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        for i, v in enumerate(a.variant):
            name, spec = v.split("=", 1)
            src, *settings = spec.split(",")
            extra = dict(x.split("=", 1) for x in settings)
            if any(not k.startswith("ARBITER_BENCH_") for k in extra):
                raise SystemExit(f"--variant {v}: only ARBITER_BENCH_* settings (start.sh's)")
            cfg = _config(f"http://127.0.0.1:{mport}/v1", work / f"v{i}", extra)
            sidecars.append(Sidecar(name, src, cfg))
        for s in sidecars:
            _wait(f"http://127.0.0.1:{s.port}/healthz", s.proc)
        load0 = os.getloadavg()
        rows = measure(sidecars, a)
        load1 = os.getloadavg()
    finally:
        for s in sidecars:
            _stop(s.proc)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"load average before {load0[0]:.1f}, after {load1[0]:.1f}; CPU ms per request "
        f"(_wakes: the event loop's wake-ups per request): median [min-max] of {a.rounds} "
        f"bursts of {a.burst}"
    )
    keys = [p if x == "c1" else f"{p}@{x}" for p in a.paths for x in a.shapes]
    cols = [x for k in keys for x in (k, f"{k}_loop", f"{k}_wakes", f"{k}_child")]
    cols += ["idle_cpu_ms_per_s", "idle_wakeups_per_s"] if a.rest_s > 0 else []
    print("| variant | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    summary: dict[str, dict[str, float]] = {}
    for s in sidecars:
        cells = []
        for label in cols:
            v = rows[s.name][label]
            med = statistics.median(v)
            summary.setdefault(s.name, {})[label] = round(med, 4)
            cells.append(f"{med:.3f} [{min(v):.3f}-{max(v):.3f}]")
        print(f"| {s.name} | " + " | ".join(cells) + " |")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
