"""The event loop's longest stall while a request body's depth is checked in a worker thread
(as surfaces/decode.py runs the parse): the whole-body `orjson.dumps` the check was (it holds
the GIL throughout) against `_check.writes_back(body, raw)` (the depth read from the text by
the Rust core, GIL released), alternating in one process, several rounds. The collector is off
while each runs (what is measured is the check, not a collection).

    PYTHONPATH=python python bench/mem27b_depth_stall.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

from arbiter.protocols import _check as c


def _bodies() -> dict[str, bytes]:
    text = [{"role": "user", "content": "x" * 3000} for _ in range(10_000)]
    parts = [{"type": "text", "text": "ab"} for _ in range(100)]
    small = [{"role": "user", "content": parts} for _ in range(10_000)]
    return {
        "30MB text": orjson.dumps({"model": "m", "messages": text}),
        "28MB small objects": orjson.dumps({"model": "m", "messages": small}),
    }


async def _worst_gap(check: Callable[[], Any]) -> float:
    loop = asyncio.get_running_loop()
    worst, last, done = 0.0, time.perf_counter(), False

    async def tick() -> None:
        nonlocal worst, last
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    last = time.perf_counter()
    await loop.run_in_executor(None, check)
    done = True
    await ticker
    return worst * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print("load:", os.getloadavg())
    for name, raw in _bodies().items():
        body = orjson.loads(raw)
        checks = {
            "dumps": lambda body=body: orjson.dumps(body),
            "text": lambda body=body, raw=raw: c.writes_back(body, raw),
        }
        got: dict[str, list[float]] = {k: [] for k in checks}
        gc.disable()
        for r in range(a.rounds):
            for k in list(checks) if r % 2 == 0 else list(reversed(checks)):
                got[k].append(round(asyncio.run(_worst_gap(checks[k])), 1))
        gc.enable()
        ratio = sorted(got["text"])[a.rounds // 2] / sorted(got["dumps"])[a.rounds // 2]
        print(f"{name}: worst gap ms dumps {sorted(got['dumps'])} text {sorted(got['text'])}"
              f"  median text/dumps = {ratio:.2f}")  # fmt: skip
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
