"""What a request that arrives alone costs beyond one in a burst, per thread, in counts (issue 18).

The tail bench's 50% window (an open loop: requests one at a time) paid ~1.7x the CPU per request
of its closed-loop max (bench/results/scale.md, fourteenth session). Wall-clock profiles cannot
say why on a host shared by other work, so this reads counts: for each load shape (`--shapes`,
as bench/cpu_per_request.py: `rN` an open loop of N requests/s, `cN` a closed loop of N
connections) it sends `--requests` requests to one sidecar (the bench/peers/arbiter config, code
from `--src`) and prints, per thread of the sidecar (named by their Python thread names):
CPU microseconds, wake-ups (voluntary context switches) and preemptions per request, and, where
`perf` may read the kernel's tracepoints (root, or perf_event_paranoid <= -1), the syscalls per
request by kind and the scheduler's switches and wake-ups per request (`perf stat
--per-thread`: counting only, no tracing overhead on the sidecar). Counts do not move with the
neighbours' load; the CPU column does (each run says its load average).

`--idle-poll-us N` runs the sidecar with server.idle_poll_us = N (the loop polls N us after its
work before sleeping; idle_poll.py); `--rest-s` also reads the sidecar's CPU at rest after the
shapes. Each shape's line also gives the load generator's latency p50 / p99 (wall time: noisy),
and the sidecar's garbage collections per 1,000 requests with their CPU per request (its
/metrics: young and full, whichever thread ran them).

Usage: python bench/lone_vs_burst.py [--src python] [--shapes r300,c64] [--requests 2000]
          [--model auto] [--idle-poll-us 0] [--rest-s 0] [--sidecar-core N]
Ends with one JSON line {"SHAPE": {"THREAD": {"cpu_us": x, "wakes": y, "preempt": z,
"syscalls": {...}}}} (per request).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import _drive
from profile_overhead import PEERBENCH, PY, _config, _free_port, _stop, _wait

SYSCALLS = ("futex", "epoll_pwait", "epoll_wait", "getpid", "read", "write", "writev",
            "sendto", "recvfrom", "accept4", "close", "connect", "pwrite64", "pread64",
            "fdatasync", "clock_gettime", "getsockname", "io_uring_enter")  # fmt: skip
# names each Python thread's OS thread after it (prctl PR_SET_NAME), so /proc and perf say which
# thread is the recorder: loaded through PYTHONPATH as sitecustomize, in the sidecar only
_NAMING = """
import ctypes, threading
_libc = ctypes.CDLL(None)
_run = threading.Thread._bootstrap_inner
def _named(self):
    try:
        _libc.prctl(15, self.name[-15:].encode(), 0, 0, 0)
    except Exception:
        pass
    _run(self)
threading.Thread._bootstrap_inner = _named
"""


def _threads(pid: int) -> dict[str, tuple[str, int, int, int]]:
    """tid -> (name, CPU ns, voluntary, involuntary context switches)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue  # a thread that just ended
        vol = int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        invol = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        out[tid] = ("loop" if int(tid) == pid else name, ns, vol, invol)
    return out


# a CPU-bound neighbour on the sidecar's core (--neighbour): counts loop turns until SIGINT,
# then prints turns per second of wall time (what the core left it)
_NEIGHBOUR = """
import signal, sys, time
n, t0 = 0, time.perf_counter()
def done(*_):
    print(n / (time.perf_counter() - t0)); sys.exit(0)
signal.signal(signal.SIGINT, done)
print("up", flush=True)
while True:
    n += 1
"""


def _neighbour_start(core: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), sys.executable, "-c", _NEIGHBOUR],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    return proc


def _neighbour_rate(proc: subprocess.Popen[str]) -> float:
    proc.send_signal(signal.SIGINT)
    return float(proc.communicate(timeout=30)[0].split()[-1])


def _metrics(port: int) -> dict[str, float]:
    """From the sidecar's /metrics: seconds polled idle, and the garbage collections (young:
    generations 0 and 1; full) with their CPU seconds (stalls.py's sources)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read()
    out = {"idle_poll_s": 0.0}
    m = re.search(rb"^arbiter_idle_poll_seconds_total (\S+)$", text, re.M)
    if m:
        out["idle_poll_s"] = float(m.group(1))
    for kind, metric in (("runs", "runs_total"), ("cpu_s", "cpu_seconds_total")):
        for source in ("gc_young", "gc_full"):
            pattern = rf'^arbiter_background_{metric}{{source="{source}"}} (\S+)$'.encode()
            m = re.search(pattern, text, re.M)
            out[f"{source}_{kind}"] = float(m.group(1)) if m else 0.0
    return out


def _perf_usable() -> bool:
    if shutil.which("perf") is None:
        return False
    probe = subprocess.run(
        ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0 and "not supported" not in probe.stderr


def _perf_start(pid: int, out: Path) -> subprocess.Popen[bytes]:
    events = ["raw_syscalls:sys_enter", "sched:sched_switch", "sched:sched_wakeup"]
    events += [f"syscalls:sys_enter_{s}" for s in SYSCALLS]
    argv = ["perf", "stat", "--per-thread", "-x,", "-o", str(out), "-e", ",".join(events)]
    proc = subprocess.Popen(
        [*argv, "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)  # attached before the first request
    return proc


def _perf_read(out: Path, names: dict[str, str], ok: int) -> dict[str, dict[str, float]]:
    """thread name -> event -> count per request."""
    got: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for line in out.read_text().splitlines():
        cols = line.split(",")
        if len(cols) < 4 or not cols[1].strip().isdigit():
            continue
        tid = cols[0].strip().rsplit("-", 1)[-1]
        event = re.sub(r"^(raw_syscalls|syscalls|sched):(sys_enter_)?", "", cols[3])
        count = int(cols[1])
        if count:  # threads of one name (the executor's) are summed
            row = got[names.get(tid, f"tid {tid}")]
            row[event] = round(row.get(event, 0.0) + count / ok, 3)
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default="python")
    ap.add_argument("--shapes", default="r300,c64")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--model", default="auto")
    ap.add_argument("--idle-poll-us", type=int, default=None)
    ap.add_argument("--rest-s", type=float, default=0.0)
    ap.add_argument("--neighbour", action="store_true",
                    help="with --sidecar-core: a CPU-bound process on the sidecar's core during "
                         "each shape and at rest; its turns per second say what the sidecar "
                         "left of the core to others")  # fmt: skip
    ap.add_argument("--sidecar-core", type=int, default=None,
                    help="pin the sidecar to this core, the mock and load generator to the "
                         "others (as bench/scale.py's tail does)")  # fmt: skip
    a = ap.parse_args(argv)
    pin: list[str] = []
    if a.sidecar_core is not None:
        others = os.sched_getaffinity(0) - {a.sidecar_core}
        if not others:
            ap.error("--sidecar-core needs another core for the mock and load generator")
        os.sched_setaffinity(0, others)  # inherited by the mock and the load generator
        pin = ["taskset", "-c", str(a.sidecar_core)]
    if a.idle_poll_us is not None:  # read by start.sh when it writes the config
        os.environ["ARBITER_BENCH_IDLE_POLL_US"] = str(a.idle_poll_us)
    shapes = [x for x in a.shapes.split(",") if re.fullmatch(r"[cr][1-9][0-9]{0,4}", x)]
    n = min(max(a.requests, 100), 20_000)
    work = Path(tempfile.mkdtemp(prefix="arbiter-lone-"))
    site = work / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_NAMING)
    perf = _perf_usable()
    mport = _free_port()
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecar: subprocess.Popen[bytes] | None = None
    summary: dict[str, Any] = {}
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        port = _free_port()
        sidecar = subprocess.Popen(
            [*pin, str(PY), "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(port)],
            env=dict(os.environ, PYTHONPATH=f"{a.src}{os.pathsep}{site}"),
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        _drive(port, a.model, False, 1000, "c8")  # warm pools and lazy paths
        _drive(port, a.model, False, 300, "r300")
        for shape in shapes:
            load = os.getloadavg()[0]
            nb = _neighbour_start(a.sidecar_core) if a.neighbour and pin else None
            before, metrics = _threads(sidecar.pid), _metrics(port)
            tracer = _perf_start(sidecar.pid, work / f"perf-{shape}.txt") if perf else None
            r = _drive(port, a.model, False, n, shape)
            after = _threads(sidecar.pid)
            metrics = {k: v - metrics[k] for k, v in _metrics(port).items()}
            polled = metrics["idle_poll_s"]
            neighbour = _neighbour_rate(nb) if nb is not None else None
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(30)
            ok = max(int(r["ok"]), 1)
            rows: dict[str, dict[str, Any]] = {}
            for tid, (name, ns, vol, invol) in after.items():
                b = before.get(tid, (name, 0, 0, 0))
                row = rows.setdefault(name, {"cpu_us": 0.0, "wakes": 0.0, "preempt": 0.0})
                row["cpu_us"] += (ns - b[1]) / 1e3 / ok
                row["wakes"] += (vol - b[2]) / ok
                row["preempt"] += (invol - b[3]) / ok
            if tracer is not None:
                names = {tid: name for tid, (name, *_) in after.items()}
                for name, events in _perf_read(work / f"perf-{shape}.txt", names, ok).items():
                    rows.setdefault(name, {})["syscalls"] = events
            lat = r.get("latency_ms", {})
            # the loop's CPU less the time it spent polling with nothing to do: its work
            rows["loop"]["work_us"] = rows["loop"]["cpu_us"] - polled * 1e6 / ok
            rows["loop"]["idle_poll_us"] = polled * 1e6 / ok
            print(f"== {shape}: {ok} ok, {r['errors']} errors, {r.get('rps', 0):.0f} req/s, "
                  f"latency p50 {lat.get('p50', 0):.3f} / p99 {lat.get('p99', 0):.3f} ms, "
                  f"load average {load:.1f}; per request:")  # fmt: skip
            for name, row in sorted(rows.items(), key=lambda kv: -kv[1].get("cpu_us", 0.0)):
                if row.get("cpu_us", 0.0) < 0.5 and "syscalls" not in row:
                    continue
                cpu, wakes, pre = (row.get(k, 0.0) for k in ("cpu_us", "wakes", "preempt"))
                print(
                    f"  {name:16s} CPU {cpu:7.1f} us  wake-ups {wakes:6.3f}  preempted {pre:6.3f}"
                )
                if "work_us" in row:
                    print(f"      of which polling idle {row['idle_poll_us']:7.1f} us, "
                          f"work {row['work_us']:7.1f} us")  # fmt: skip
                    for k in ("work_us", "idle_poll_us"):
                        row[k] = round(row[k], 3)
                calls = row.get("syscalls", {})
                if calls:
                    shown = ", ".join(
                        f"{k} {v:g}"
                        for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                        if v >= 0.01
                    )
                    print(f"      {shown}")
                for k in ("cpu_us", "wakes", "preempt"):
                    row[k] = round(row.get(k, 0.0), 3)
            rows["_latency_ms"] = {"p50": lat.get("p50"), "p99": lat.get("p99")}
            # collections (whichever thread ran them: the idle collector, or the loop at the
            # interpreter's backstop) per 1,000 requests, and their CPU per request
            gcs = {
                f"{src}_per_1000": round(metrics[f"{src}_runs"] * 1000 / ok, 2)
                for src in ("gc_young", "gc_full")
            }
            gcs |= {
                f"{src}_cpu_us": round(metrics[f"{src}_cpu_s"] * 1e6 / ok, 2)
                for src in ("gc_young", "gc_full")
            }
            rows["_gc"] = gcs
            print(f"  collections per 1,000 requests: young {gcs['gc_young_per_1000']:.2f} "
                  f"({gcs['gc_young_cpu_us']:.2f} us CPU a request), full "
                  f"{gcs['gc_full_per_1000']:.2f} ({gcs['gc_full_cpu_us']:.2f} us)")  # fmt: skip
            if neighbour is not None:
                rows["_neighbour_turns_per_s"] = {"rate": round(neighbour)}
                print(f"  neighbour on the sidecar's core: {neighbour / 1e6:.2f} M turns/s")
            summary[shape] = rows
        if a.rest_s > 0:
            time.sleep(1.0)  # the last shape's windows and batches end
            nb = _neighbour_start(a.sidecar_core) if a.neighbour and pin else None
            before = _threads(sidecar.pid)
            time.sleep(a.rest_s)
            after = _threads(sidecar.pid)
            neighbour = _neighbour_rate(nb) if nb is not None else None
            ns = sum(v[1] - before.get(t, v)[1] for t, v in after.items())
            wakes = sum(v[2] - before.get(t, v)[2] for t, v in after.items())
            summary["rest"] = {"cpu_ms_per_s": round(ns / 1e6 / a.rest_s, 2),
                               "wakes_per_s": round(wakes / a.rest_s, 1),
                               "neighbour_turns_per_s": neighbour}  # fmt: skip
            print(f"== at rest: {summary['rest']}")
    finally:
        if sidecar is not None:
            _stop(sidecar)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    if not perf:
        print("(perf tracepoints not readable here: no syscall counts)")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
