"""How long one upstream decompression bomb holds the event loop and the CPU, base vs this tree,
interleaved (each round one child process per tree, its own code).

The upstream answers a whole JSON call with `--inflated` MiB of zeros gzipped, once as one
layer (`gzip`: ~1,000:1, what any deflate can do) and once stacked (`gzip, gzip`: ~1 KB for the
same bytes), in one network piece, through `OpenAIUpstream.call_endpoint` and an in-process
transport (no sockets). Every call ends in the same 502 (the 64 MiB response cap, or this
tree's ratio bound); the figures are what the sidecar spent getting there: the loop's longest
gap between 1 ms ticks (the time no other request was served) and the process's CPU.

    python bench/decode_bomb_loop_stall.py --base /work/wt/base25 --ours . [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CODINGS = ("gzip", "gzip, gzip")


def _child(inflated_mib: int) -> None:
    import httpx

    from admin_views_loop_stall import _stall_while  # this folder's (the loop's 1 ms ticker)
    from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
    from arbiter.errors import ArbiterError
    from arbiter.upstream.openai import OpenAIUpstream

    sys.setswitchinterval(0.001)  # as `arbiter serve` sets it
    one = gzip.compress(b"\0" * (inflated_mib << 20), 9, mtime=0)
    bodies = {"gzip": one, "gzip, gzip": gzip.compress(one, 9, mtime=0)}
    model = ModelSettings("em", "up", 0.1, 0.0)
    out: dict[str, Any] = {}
    for coding in CODINGS:
        head = {"content-encoding": coding}
        stream = httpx.ByteStream(bodies[coding])  # not read by the mock: aiter_raw reads it
        upstream = OpenAIUpstream(
            UpstreamSettings("up", "http://upstream.test/v1"),
            FailoverSettings(),
            transport=httpx.MockTransport(
                lambda req, h=head, s=stream: httpx.Response(200, headers=h, stream=s)
            ),
        )

        async def call(up: OpenAIUpstream = upstream) -> str:
            try:
                await up.call_endpoint("/embeddings", {"model": "em", "input": "x"}, model)
            except ArbiterError as err:
                return str(err)[:80]
            return "answered"

        cpu0, wall0 = time.process_time(), time.perf_counter()
        stall, said = asyncio.run(_stall_while(call()))
        out[coding] = {
            "stall_ms": round(stall, 1),
            "cpu_ms": round((time.process_time() - cpu0) * 1000, 1),
            "wall_ms": round((time.perf_counter() - wall0) * 1000, 1),
            "sent_bytes": len(bodies[coding]),
            "error": said,
        }
    print(json.dumps(out))


def _run(tree: Path, inflated_mib: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "python")}
    args = [sys.executable, __file__, "--child", "--inflated", str(inflated_mib)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path)
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inflated", type=int, default=256, help="MiB the bomb stands for")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        return _child(a.inflated)
    if a.base is None:
        ap.error("--base is required")
    trees = {"base": a.base, "ours": a.ours}
    seen = {name: {c: {"stall_ms": [], "cpu_ms": []} for c in CODINGS} for name in trees}
    for r in range(a.rounds):  # interleaved: base, ours, then ours, base
        for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
            got = _run(trees[name].resolve(), a.inflated)
            for coding in CODINGS:
                for what in ("stall_ms", "cpu_ms"):
                    seen[name][coding][what].append(got[coding][what])
            print(f"round {r} {name}: {json.dumps(got)}", flush=True)
    for coding in CODINGS:
        for what in ("stall_ms", "cpu_ms"):
            b, o = seen["base"][coding][what], seen["ours"][coding][what]
            ratio = sorted(o)[len(o) // 2] / max(sorted(b)[len(b) // 2], 0.1)
            print(f"{coding!r} {what}: base {min(b):.0f}-{max(b):.0f}, ours {min(o):.0f}-"
                  f"{max(o):.0f}, ratio of medians {ratio:.3f}")  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
