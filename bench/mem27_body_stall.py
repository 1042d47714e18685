"""The event loop's longest stall while a large chat body is decoded (surfaces/decode.py: in a
worker thread, which holds the GIL for as long as any one C call of it lasts), variants
alternating, one child process per variant per round.

Each child tunes the collector as `arbiter serve` does (gc_tuning.tune_for_serving, without the
idle collector), holds a heap of 300,000 long-lived objects (a served process's), and runs a
1 ms ticker on its loop while `decode(parse_chat_request, body)` runs and for 0.5 s after: the
longest gap between ticks is the stall every other request on that loop saw. Bodies:

- `10k`: 10,000 tiny messages (0.34 MB; mem26's message cap);
- `30MB`: 10,000 messages of 3 KB of text (30 MB; near the 32 MiB most of `max_body_bytes`);
- `small-objects`: 10,000 messages of 100 text parts each (28 MB of a million small objects);
- `1MiB`: 375 messages of 100 parts (1.05 MB, just past chunked_json's threshold): what the
  pieces cost where they start (decode time, the best of the rounds).

`--no-gc` (a diagnostic) disables the collector in the children: the share of the stall that is
collections, not the parse.

    python bench/mem27_body_stall.py --variant a=/work/wt/base27/python --variant b=python \\
        [--rounds 3] [--bodies 10k 30MB small-objects 1MiB] [--no-gc]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import asyncio, gc, json, sys, time
import orjson
from arbiter import gc_tuning
from arbiter.surfaces.decode import decode
from arbiter.surfaces.openai_chat import parse_chat_request

name, no_gc = sys.argv[1], sys.argv[2] == "1"
parts = [{"type": "text", "text": "ab"} for _ in range(100)]
make = {
    "10k": lambda: [{"role": "user", "content": f"m{i}"} for i in range(10_000)],
    "30MB": lambda: [{"role": "user", "content": "word " * 600} for _ in range(10_000)],
    "small-objects": lambda: [{"role": "user", "content": parts} for _ in range(10_000)],
    "1MiB": lambda: [{"role": "user", "content": parts} for _ in range(375)],
}
raw = orjson.dumps({"model": "m", "messages": make[name]()})
gc_tuning.tune_for_serving()
if no_gc:
    gc.disable()
heap = [{"k": [i]} for i in range(300_000)]

async def main():
    gaps, stop = [], False
    async def tick():
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    gaps.clear()
    started = time.perf_counter()
    req = await decode(parse_chat_request, raw, None, 1_000_000)
    took = time.perf_counter() - started
    await asyncio.sleep(0.5)  # what the decode leaves to the loop (a collection it set off)
    stop = True
    await ticker
    assert req.messages
    print(json.dumps({"mb": round(len(raw) / 1e6, 2), "decode_ms": round(took * 1e3, 1),
                      "worst_gap_ms": round(max(gaps, default=0) * 1e3, 1)}))

asyncio.run(main())
sys.stdout.flush()
import os; os._exit(0)  # (a to_thread worker torn down at exit can abort the interpreter)
"""


def _child(path: str, body: str, no_gc: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(path).resolve())}
    got = subprocess.run(
        [sys.executable, "-c", _CHILD, body, "1" if no_gc else "0"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(got.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", action="append", required=True, help="name=path to python/")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bodies", nargs="+", default=["10k", "30MB", "small-objects", "1MiB"])
    ap.add_argument("--no-gc", action="store_true")
    args = ap.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    print("load:", os.getloadavg(), flush=True)
    for body in args.bodies:
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for r in range(args.rounds):
            order = list(variants.items())
            for name, path in order if r % 2 == 0 else order[::-1]:  # alternate who goes first
                runs[name].append(_child(path, body, args.no_gc))
        for name, got in runs.items():
            gaps = sorted(g["worst_gap_ms"] for g in got)
            decodes = sorted(g["decode_ms"] for g in got)
            print(f"{body} ({got[0]['mb']} MB) {name}: worst gap ms {gaps}, decode ms {decodes}")
        first, *rest = variants
        for name in rest:
            a = sorted(g["worst_gap_ms"] for g in runs[first])
            b = sorted(g["worst_gap_ms"] for g in runs[name])
            print(
                f"  {body}: median worst gap {name}/{first} = {b[len(b) // 2] / a[len(a) // 2]:.2f}"
            )
    print("load:", os.getloadavg(), flush=True)


if __name__ == "__main__":
    main()
