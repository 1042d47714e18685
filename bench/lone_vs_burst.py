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

Usage: python bench/lone_vs_burst.py [--src python] [--shapes r300,c64] [--requests 2000]
          [--model auto]
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
    a = ap.parse_args(argv)
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
            [str(PY), "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(port)],
            env=dict(os.environ, PYTHONPATH=f"{a.src}{os.pathsep}{site}"),
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        _drive(port, a.model, False, 1000, "c8")  # warm pools and lazy paths
        _drive(port, a.model, False, 300, "r300")
        for shape in shapes:
            load = os.getloadavg()[0]
            before = _threads(sidecar.pid)
            tracer = _perf_start(sidecar.pid, work / f"perf-{shape}.txt") if perf else None
            r = _drive(port, a.model, False, n, shape)
            after = _threads(sidecar.pid)
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
            print(f"== {shape}: {ok} ok, {r['errors']} errors, {r.get('rps', 0):.0f} req/s, "
                  f"load average {load:.1f}; per request:")  # fmt: skip
            for name, row in sorted(rows.items(), key=lambda kv: -kv[1].get("cpu_us", 0.0)):
                if row.get("cpu_us", 0.0) < 0.5 and "syscalls" not in row:
                    continue
                cpu, wakes, pre = (row.get(k, 0.0) for k in ("cpu_us", "wakes", "preempt"))
                print(
                    f"  {name:16s} CPU {cpu:7.1f} us  wake-ups {wakes:6.3f}  preempted {pre:6.3f}"
                )
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
            summary[shape] = rows
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
