"""Where a request's event-loop CPU goes: a cProfile of the sidecar's loop thread (issue 18).

Starts peerbench's mock and `arbiter serve` (the bench/peers/arbiter config, code from `--src`)
with a profiler that SIGUSR1 turns on and SIGUSR2 turns off and dumps (both handled on the loop
thread, the only thread profiled; the clock is `time.thread_time`, so the loop's sleeps cost
nothing). Drives a warm-up, then `--requests` requests of `--shape` (as bench/cpu_per_request.py:
`rN` an open loop of N requests/s, requests mostly alone; `cN` a closed loop of N connections)
inside the window, and prints per request: the top functions by self time (calls and
microseconds), and self time by module. cProfile inflates call-heavy code (a request profiled
costs ~3x one unprofiled), so read shares and call counts, not the microseconds.

With `--count`, instead: the Python bytecode instructions the loop thread executes per request
(sys.settrace's opcode events, by file), a count the host's load does not move: what a cut of a
few microseconds removes, where CPU time on a shared host cannot resolve it; split at the answer
(from a client's bytes arriving to the response's send, and after it: at `--shape c1` what a
client waits for and what runs after it has its answer).

Usage: python bench/profile_request.py [--src python] [--model auto] [--stream] [--shape r100]
          [--requests 2000] [--top 40] [--save FILE.pstats] [--count]
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


def _serve_counting(out: str, argv: list[str]) -> int:
    """Run `arbiter serve`; SIGUSR1 starts counting the Python bytecode instructions the loop
    thread executes (sys.settrace with per-opcode events; slow, but a count: the neighbours'
    load does not move it), per code file; SIGUSR2 stops and writes the counts to `out`."""
    import json
    import threading

    counts: collections.Counter[str] = collections.Counter()
    # which side of the answer an instruction ran on: "before" from a client's bytes arriving
    # (the protocol's data_received) to the response's send (StepWrites.flush), "after" from
    # there on; one request at a time (c1), that splits each request's work at its answer
    phase = ["before|"]

    def local(frame: Any, event: str, _arg: Any) -> Any:
        if event == "opcode":
            code = frame.f_code
            counts[f"{phase[0]}{code.co_filename}:{code.co_firstlineno}({code.co_name})"] += 1
        return local

    def tracer(frame: Any, event: str, _arg: Any) -> Any:
        if event == "call":
            code = frame.f_code
            if code.co_name == "flush" and code.co_filename.endswith("step_writes.py"):
                phase[0] = "after|"
            elif code.co_name == "data_received" and code.co_filename.endswith(_CLIENT_SIDE):
                phase[0] = "before|"
            frame.f_trace_opcodes = True
            return local
        return None

    def start(*_: Any) -> None:
        counts.clear()
        sys.settrace(tracer)
        frame = sys._getframe(1)  # the frames already running (the loop's) count from here
        while frame is not None:
            frame.f_trace, frame.f_trace_opcodes = local, True
            frame = frame.f_back

    def stop(*_: Any) -> None:
        sys.settrace(None)
        frame = sys._getframe(1)
        while frame is not None:
            frame.f_trace = None
            frame = frame.f_back
        with open(out + ".tmp", "w") as f:
            json.dump(dict(counts), f)
        os.replace(out + ".tmp", out)

    assert threading.current_thread() is threading.main_thread()  # the loop's thread
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from arbiter.cli import main as arbiter_main

    return arbiter_main(argv)


# the client connection's protocols (a request's bytes arriving), not the upstream pool's
_CLIENT_SIDE = ("arbiter/client_timeout.py", "http/httptools_impl.py")
# code that runs by the clock, not per request (the loop-lag tick and what it calls): its
# count grows with the window's length, which tracing stretches; reported apart
_BACKGROUND = ("arbiter/loop_lag.py", "arbiter/stalls.py", "arbiter/gc_tuning.py")


def report_counts(counts_file: Path, n: int) -> None:
    import json

    phased: dict[str, int] = json.loads(counts_file.read_text())  # "phase|file:line(name)" -> n
    by_code: collections.Counter[str] = collections.Counter()
    by_phase: collections.Counter[str] = collections.Counter()
    for key, c in phased.items():
        side, where = key.split("|", 1)
        by_code[where] += c
        if not where.rsplit(":", 1)[0].endswith(_BACKGROUND):
            by_phase[side] += c
    before, after = by_phase["before"], by_phase["after"]
    counts: collections.Counter[str] = collections.Counter()  # file -> count
    for where, c in by_code.items():
        counts[where.rsplit(":", 1)[0]] += c
    background = sum(c for f, c in counts.items() if f.endswith(_BACKGROUND))
    total = sum(counts.values())
    print(f"bytecode instructions a request on the loop thread: {(total - background) / n:.0f}")
    print(f"  (and {background / n:.0f} a request of clock-driven background, not counted above)")
    if before + after:  # meaningful at c1 (one request at a time)
        share = after / (before + after)
        print(f"  before the answer was sent: {before / n:.0f}; after it: {after / n:.0f} "
              f"({share:.1%} after; at c1 a client waits for the first)")  # fmt: skip
    by_mod: collections.Counter[str] = collections.Counter()
    for file, c in counts.items():
        if not file.endswith(_BACKGROUND):
            by_mod[_module(file)] += c
    for mod, c in by_mod.most_common(25):
        print(f"  {c / n:8.0f}  {mod}")
    print("by function:")
    for where, c in sorted(by_code.items(), key=lambda kv: -kv[1])[:30]:
        file, rest = where.rsplit(":", 1)
        if not file.endswith(_BACKGROUND):
            print(f"  {c / n:8.0f}  {_module(file)}:{rest}")


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
    ap.add_argument(
        "--count",
        action="store_true",
        help="count the loop thread's bytecode instructions per request instead of profiling "
        "(deterministic; run it at c1 and a few hundred requests: tracing is slow)",
    )
    ap.add_argument("--serve-profiled", help=argparse.SUPPRESS)  # internal: the sidecar
    ap.add_argument("--serve-counting", help=argparse.SUPPRESS)  # internal: the sidecar
    a, rest = ap.parse_known_args(argv)
    if a.serve_profiled:
        return _serve_profiled(a.serve_profiled, rest)
    if a.serve_counting:
        return _serve_counting(a.serve_counting, rest)
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
        mode = "--serve-counting" if a.count else "--serve-profiled"
        argv_ = [str(PY), __file__, mode, str(out), "serve", "--config", str(cfg)]
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
        if a.count:
            report_counts(out, ok)
        else:
            report(out, ok, a.top)
    finally:
        if sidecar is not None:
            _stop(sidecar)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
