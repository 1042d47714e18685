"""How long an upstream stream of 16 MB of lines that carry no event (blank lines, `:` comment
lines) holds the event loop, base vs this tree, interleaved (each run one child process per
tree, its own code).

`OpenAIUpstream.open_stream` and its events read through an in-process transport whose pieces
(64 KiB) have all come (as a fast upstream's do: the reader takes a piece that has come with no
await): 16 MB of `\\n`, or of `:\\n`, then a short answer. A ticker wakes every 1 ms on the loop;
its longest gap while the stream is read is the stall. Base read every line in Python (and
relayed the answer after them); this tree drops them a piece at a time (upstream/sse_idle.py)
and fails the answer past 1 MiB of them. The control: the plain answer with 512 KiB of
heartbeats and blank runs (under the bound: both trees read it whole).

Measured (session 23, edge23, load 4.6-5.1 on 2 shared cores, 2-3 interleaved runs): 16 MB of
blank lines stalled base's loop 2,131-3,270 ms (the answer relayed after them), this tree's
7 ms (the 502 after 1 MiB: ratio of medians 0.0023-0.0025); 16 MB of `:` lines 1,080-1,474 ms
vs 12-21 ms (0.010-0.014); comment lines of 33 bytes (left to the reader: no faster, no bound
but the response cap) 100-113 ms vs 106-137 ms (1.14); the control, 512 KiB of heartbeats,
36-51 ms vs 11-22 ms, both answers whole.

    python bench/sse_idle_loop_stall.py --base /tmp/edge23-base --ours . [--rounds 3]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.admin_views_loop_stall import _stall_while, ab_args, interleaved_runs

SIZE = 16 * 1024 * 1024
PIECE = 65536


def _answer() -> bytes:
    head = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    return (
        b"data: " + head + b'[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}\n\n'
        b"data: " + head + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b"data: " + head + b'[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
        b"data: [DONE]\n\n"
    )


CASES = {
    "blank": b"\n" * SIZE + _answer(),
    "comment": b":\n" * (SIZE // 2) + _answer(),
    # comment lines of 33 bytes: pieces of lines that long are left to the reader (sse_idle)
    "long comment": (b": " + b"c" * 30 + b"\n") * (SIZE // 33) + _answer(),
    "control": b": ping\n\n\n\n" * (512 * 1024 // 10) + _answer(),
}


async def _read(case: str) -> dict[str, Any]:
    import httpx

    from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
    from arbiter.errors import UpstreamError
    from arbiter.upstream.openai import OpenAIUpstream

    body = CASES[case]

    class Pieces(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for at in range(0, len(body), PIECE):
                yield body[at : at + PIECE]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pieces())

    upstream = OpenAIUpstream(
        UpstreamSettings("up", "http://upstream.test/v1"),
        FailoverSettings(total_timeout_s=120.0),
        transport=httpx.MockTransport(answer),
    )
    model = ModelSettings("m", "up", 0.1, 0.0)

    async def whole() -> str:
        try:
            stream = await upstream.open_stream({"messages": []}, model)
            events = [e async for e in stream.events()]
            await stream.aclose()
            return f"{len(events)} events"
        except UpstreamError as err:
            return f"error: {str(err)[:60]}"

    t0 = time.perf_counter()
    stall, outcome = await _stall_while(whole())
    return {"stall_ms": stall, "wall_ms": (time.perf_counter() - t0) * 1000, "outcome": outcome}


async def _child() -> dict[str, Any]:
    sys.setswitchinterval(0.001)  # as `arbiter serve` sets it
    return {case: await _read(case) for case in CASES}


def main() -> None:
    args = ab_args(__doc__, rounds=3)
    if args.child:
        print(json.dumps(asyncio.run(_child())))
        return
    runs = interleaved_runs(Path(__file__).resolve(), args.base, args.ours, args.rounds)
    print(f"{args.rounds} interleaved runs each; stall and wall in ms (min-max over runs)")
    for case in CASES:
        med = {}
        for label, rs in runs.items():
            stall = [r[case]["stall_ms"] for r in rs]
            wall = [r[case]["wall_ms"] for r in rs]
            med[label] = statistics.median(stall)
            print(
                f"{case:12s} {label:4s} stall {min(stall):.1f}-{max(stall):.1f}, "
                f"wall {min(wall):.1f}-{max(wall):.1f}: {rs[0][case]['outcome']}"
            )
        print(f"{case:12s} ratio of median stalls ours/base {med['ours'] / med['base']:.4f}")
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
