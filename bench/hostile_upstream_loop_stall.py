"""How long one hostile upstream answer holds the event loop and the CPU, base vs this tree,
interleaved (each round one child process per tree, its own code).

Three answers, each read through `OpenAIUpstream` and an in-process transport (no sockets):
- `gzip`: a whole JSON call answered with `--inflated` MiB of zeros gzipped as one layer
  (~1,000:1, what any deflate can do), in one network piece;
- `gzip, gzip`: the same bytes stacked (~1 KB sent), in one piece. Both end in the same 502
  (the 64 MiB response cap, or this tree's ratio bound);
- `burst`: a stream of `--events` tiny chat chunks (empty deltas) arriving in 256 KiB pieces,
  every event read through `events()` as the relay reads them.
The figures are what the sidecar spent: the loop's longest gap between 1 ms ticks (the time no
other request was served) and the process's CPU.

    python bench/hostile_upstream_loop_stall.py --base /work/wt/base25 --ours . [--rounds 3]
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

CASES = ("gzip", "gzip, gzip", "burst")
_EVENT = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""}}]}\n\n'  # noqa: E501
_END = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"!"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'  # noqa: E501


def _child(inflated_mib: int, events: int) -> None:
    import httpx

    from admin_views_loop_stall import _stall_while  # this folder's (the loop's 1 ms ticker)
    from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
    from arbiter.errors import ArbiterError
    from arbiter.upstream.openai import OpenAIUpstream

    sys.setswitchinterval(0.001)  # as `arbiter serve` sets it
    one = gzip.compress(b"\0" * (inflated_mib << 20), 9, mtime=0)
    burst = _EVENT * events + _END
    bodies = {"gzip": one, "gzip, gzip": gzip.compress(one, 9, mtime=0), "burst": burst}
    model = ModelSettings("em", "up", 0.1, 0.0)

    class Pieces(httpx.AsyncByteStream):
        def __init__(self, body: bytes, size: int) -> None:
            self.body, self.size = body, size

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for at in range(0, len(self.body), self.size):
                yield self.body[at : at + self.size]

    def upstream(case: str) -> OpenAIUpstream:
        if case == "burst":
            head = {"content-type": "text/event-stream"}
            stream = Pieces(burst, 256 << 10)
        else:
            head = {"content-encoding": case}
            stream = Pieces(bodies[case], len(bodies[case]))  # one piece
        return OpenAIUpstream(
            UpstreamSettings("up", "http://upstream.test/v1"),
            FailoverSettings(total_timeout_s=120.0, deadline_s=120.0),
            transport=httpx.MockTransport(
                lambda req: httpx.Response(200, headers=head, stream=stream)
            ),
        )

    async def call(case: str) -> str:
        up = upstream(case)
        try:
            if case != "burst":
                await up.call_endpoint("/embeddings", {"model": "em", "input": "x"}, model)
                return "answered"
            body = {"model": "em", "messages": [{"role": "user", "content": "x"}]}
            stream = await up.open_stream(body, model)
            n = 0
            async for _ in stream.events():
                n += 1
            return f"{n} events"
        except ArbiterError as err:
            return str(err)[:80]

    out: dict[str, Any] = {}
    for case in CASES:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        stall, said = asyncio.run(_stall_while(call(case)))
        out[case] = {
            "stall_ms": round(stall, 1),
            "cpu_ms": round((time.process_time() - cpu0) * 1000, 1),
            "wall_ms": round((time.perf_counter() - wall0) * 1000, 1),
            "sent_bytes": len(bodies[case]),
            "result": said,
        }
    print(json.dumps(out))


def _run(tree: Path, inflated_mib: int, events: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "python")}
    args = [sys.executable, __file__, "--child", "--inflated", str(inflated_mib)]
    args += ["--events", str(events)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path)
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inflated", type=int, default=256, help="MiB the bomb stands for")
    ap.add_argument("--events", type=int, default=100_000, help="tiny events in the burst")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        return _child(a.inflated, a.events)
    if a.base is None:
        ap.error("--base is required")
    trees = {"base": a.base, "ours": a.ours}
    seen = {name: {c: {"stall_ms": [], "cpu_ms": []} for c in CASES} for name in trees}
    for r in range(a.rounds):  # interleaved: base, ours, then ours, base
        for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
            got = _run(trees[name].resolve(), a.inflated, a.events)
            for case in CASES:
                for what in ("stall_ms", "cpu_ms"):
                    seen[name][case][what].append(got[case][what])
            print(f"round {r} {name}: {json.dumps(got)}", flush=True)
    for case in CASES:
        for what in ("stall_ms", "cpu_ms"):
            b, o = seen["base"][case][what], seen["ours"][case][what]
            ratio = sorted(o)[len(o) // 2] / max(sorted(b)[len(b) // 2], 0.1)
            print(f"{case!r} {what}: base {min(b):.0f}-{max(b):.0f}, ours {min(o):.0f}-"
                  f"{max(o):.0f}, ratio of medians {ratio:.3f}")  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
