"""Where a request's event-loop CPU goes: a cProfile of the sidecar's loop thread (issue 18).

Starts peerbench's mock and `arbiter serve` (the bench/peers/arbiter config, code from `--src`)
with a profiler that SIGUSR1 turns on and SIGUSR2 turns off and dumps (both handled on the loop
thread, the only thread profiled; the clock is `time.thread_time`, so the loop's sleeps cost
nothing). Drives a warm-up, then `--requests` requests of `--shape` (as bench/cpu_per_request.py:
`rN` an open loop of N requests/s, requests mostly alone; `cN` a closed loop of N connections)
inside the window, and prints per request: the top functions by self time (calls and
microseconds), and self time by module. cProfile inflates call-heavy code (a request profiled
costs ~3x one unprofiled), so read shares and call counts, not the microseconds.

Usage: python bench/profile_request.py [--src python] [--model auto] [--stream] [--shape r100]
          [--requests 2000] [--top 40] [--save FILE.pstats]
"""

from __future__ import annotations

import argparse
import collections
import os
import pstats
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


def _serve_profiled(out: str, argv: list[str]) -> int:
    """Run `arbiter serve`; SIGUSR1 starts the loop thread's profile, SIGUSR2 dumps it to `out`."""
    import cProfile

    prof = cProfile.Profile(time.thread_time)

    def start(*_: Any) -> None:
        prof.enable()

    def stop(*_: Any) -> None:
        prof.disable()
        prof.dump_stats(out + ".tmp")
        os.replace(out + ".tmp", out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from arbiter.cli import main as arbiter_main

    return arbiter_main(argv)


def _module(filename: str) -> str:
    """A short module label for a profiled function's file."""
    if filename == "~":
        return "(C builtins and methods)"
    p = filename.replace("\\", "/")
    for marker in ("/arbiter/", "/site-packages/", "/lib/python3"):
        if marker in p:
            tail = p.split(marker, 1)[1]
            if marker == "/arbiter/":
                return "arbiter/" + tail
            if marker == "/site-packages/":
                return tail.split("/", 1)[0]
            return "stdlib:" + tail.split("/", 1)[-1].split("/")[0]
    return p


def report(stats_file: Path, n: int, top: int) -> None:
    st = pstats.Stats(str(stats_file))
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    print(f"profiled loop-thread CPU: {total * 1e6 / n:.0f} us a request (cProfile-inflated)")
    calls = sum(v[1] for v in raw.values())
    print(f"function calls a request: {calls / n:.0f}")
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    print(f"\ntop {top} by self time, per request: calls, self us, share")
    for (file, line, fn), (_cc, nc, tt, _ct, _callers) in rows:
        where = f"{_module(file)}:{line}({fn})" if file != "~" else fn
        print(f"  {nc / n:7.2f} {tt * 1e6 / n:8.1f} {tt / total:6.1%}  {where}")
    by_mod: collections.Counter[str] = collections.Counter()
    for (file, _line, _fn), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_mod[_module(file)] += tt
    print("\nself time by module, per request: us, share")
    for mod, tt in by_mod.most_common(30):
        print(f"  {tt * 1e6 / n:8.1f} {tt / total:6.1%}  {mod}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "python"))
    ap.add_argument("--model", default="auto")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--shape", default="r100")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--save", default=None, help="keep the pstats file here")
    ap.add_argument("--serve-profiled", help=argparse.SUPPRESS)  # internal: the sidecar
    a, rest = ap.parse_known_args(argv)
    if a.serve_profiled:
        return _serve_profiled(a.serve_profiled, rest)
    n = min(max(a.requests, 100), 50_000)
    work = Path(tempfile.mkdtemp(prefix="arbiter-prof-req-"))
    mport, port, out = _free_port(), _free_port(), work / "loop.pstats"
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecar = None
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        argv_ = [str(PY), __file__, "--serve-profiled", str(out), "serve", "--config", str(cfg)]
        sidecar = subprocess.Popen(
            [*argv_, "--port", str(port)], env=dict(os.environ, PYTHONPATH=a.src),
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        _drive(port, a.model, a.stream, 1000, "c8")  # warm pools and lazy paths
        _drive(port, a.model, a.stream, 300, a.shape)
        sidecar.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        r = _drive(port, a.model, a.stream, n, a.shape)
        sidecar.send_signal(signal.SIGUSR2)
        end = time.monotonic() + 30
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.2)
        if a.save:
            shutil.copy(out, a.save)
        ok = max(int(r["ok"]), 1)
        kind = f"{a.model}{', streamed' if a.stream else ''}"
        print(f"{ok} requests of {kind} at {a.shape}, {r['errors']} errors; code {a.src}")
        report(out, ok, a.top)
    finally:
        if sidecar is not None:
            _stop(sidecar)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
