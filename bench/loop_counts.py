"""What Python schedules on the sidecar's event loop per request: timers, tasks, callbacks,
hand-offs from other threads (issue 18: what a request that arrives alone pays for in full).

Starts peerbench's mock and `arbiter serve` (the bench/peers/arbiter config, code from
`--src`) on a uvloop subclass that counts `call_soon`, `call_later`/`call_at` (timers),
`create_task` and `call_soon_threadsafe`, by callback; drives `--requests` requests after a
warm-up and prints the counts per request (a deterministic figure: no timing involved).
Background work that ran during the window (the loop-lag tick, the policy sync) is included,
so read the per-request rows at 1.0 and above; a fraction is a timer or a sync.

Usage: python bench/loop_counts.py [--src python] [--model auto] [--requests 2000]
Ends with one JSON line {"per_request": {"call_soon": x, ...}}.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import _drive
from profile_overhead import PEERBENCH, PY, _config, _free_port, _stop, _wait

COUNTS: collections.Counter[str] = collections.Counter()


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", type(fn).__name__))


def _serve_counting(out: str, argv: list[str]) -> int:
    """Run `arbiter serve` on a counting loop; write the counts to `out` every 0.5 s."""
    import uvloop

    class CountingLoop(uvloop.Loop):  # type: ignore[misc]
        def call_soon(self, cb: Any, *args: Any, context: Any = None) -> Any:
            COUNTS["call_soon"] += 1
            COUNTS["call_soon: " + _name(cb)] += 1
            return super().call_soon(cb, *args, context=context)

        def call_later(self, delay: float, cb: Any, *args: Any, context: Any = None) -> Any:
            COUNTS["timers"] += 1  # (uvloop's call_at is a call_later)
            COUNTS["timer: " + _name(cb)] += 1
            return super().call_later(delay, cb, *args, context=context)

        def call_soon_threadsafe(self, cb: Any, *args: Any, context: Any = None) -> Any:
            COUNTS["call_soon_threadsafe"] += 1
            return super().call_soon_threadsafe(cb, *args, context=context)

        def create_task(self, coro: Any, **kw: Any) -> Any:
            COUNTS["tasks"] += 1
            COUNTS["task: " + _name(coro)] += 1
            return super().create_task(coro, **kw)

    uvloop.new_event_loop = CountingLoop  # what uvicorn's loop="uvloop" calls

    def dump() -> None:
        while True:
            time.sleep(0.5)
            with open(out + ".tmp", "w") as f:
                json.dump(dict(COUNTS), f)
            os.replace(out + ".tmp", out)

    threading.Thread(target=dump, daemon=True).start()
    from arbiter.cli import main as arbiter_main

    return arbiter_main(argv)


def _snapshot(path: Path) -> dict[str, int]:
    time.sleep(1.2)  # two dumps: the latest counts are on disk
    data: dict[str, int] = json.loads(path.read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "python"))
    ap.add_argument("--model", default="auto")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--serve-counting", help=argparse.SUPPRESS)  # internal: the sidecar
    a, rest = ap.parse_known_args(argv)
    if a.serve_counting:
        return _serve_counting(a.serve_counting, rest)
    n = min(max(a.requests, 100), 100_000)
    work = Path(tempfile.mkdtemp(prefix="arbiter-counts-"))
    mport, port, out = _free_port(), _free_port(), work / "counts.json"
    mock = subprocess.Popen(
        [str(PY), str(PEERBENCH / "mock_upstream.py"), "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sidecar = None
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        argv_ = [str(PY), __file__, "--serve-counting", str(out), "serve", "--config", str(cfg)]
        sidecar = subprocess.Popen(
            [*argv_, "--port", str(port)], env=dict(os.environ, PYTHONPATH=a.src),
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(f"http://127.0.0.1:{port}/healthz", sidecar)
        _drive(port, a.model, a.stream, 500, "c4")  # warm pools and lazy paths
        before = _snapshot(out)
        _drive(port, a.model, a.stream, n, "c4")
        after = _snapshot(out)
    finally:
        if sidecar is not None:
            _stop(sidecar)
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    per = {k: round((after.get(k, 0) - before.get(k, 0)) / n, 3) for k in sorted(after)}
    per = {k: v for k, v in per.items() if v >= 0.005}
    print(
        f"per request ({n} requests of {a.model}{', streamed' if a.stream else ''}; code {a.src})"
    )
    for k, v in per.items():
        print(f"  {k:60} {v:8.3f}")
    print(json.dumps({"per_request": per}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
