"""How long one large /v1/embeddings answer holds the event loop, base vs this tree, interleaved
(each round one child process per tree, its own code).

The upstream's answer (`--inputs` vectors of `--dims` floats, ~20 bytes a float in JSON: 2,048
x 1,536 is ~60 MB) is read by `OpenAIUpstream.call_endpoint`, the call every pass-through
embeddings request makes, through an in-process transport (no sockets: the figure is the
parse and the checks, not the network), once with `encoding_format` float and once base64 (the
SDK's default: the floats converted where the upstream ignored it, this tree's
embeddings_answer). A ticker wakes every 1 ms on the loop; its longest gap during the call is
the stall: the time no other request could be served.

Measured (session 23, 2,048 x 1,536, 62 MB, load 5-7, two rounds): float answers stall the
loop their whole call on both trees (base 441-659 ms, this tree 253-268: the parse, which
orjson does holding the GIL, so a thread would not free the loop); base64 asked of this
upstream (floats: converted here) stalls 207-331 ms of a 493 ms call (the conversion runs in a
thread, vector by vector) where base stalled 534-697 ms relaying floats the client did not ask
for.

    python bench/embeddings_loop_stall.py --base /work/wt/base23 --ours . [--rounds 3]
        [--concurrent 6]

Also printed (session 25): `xN`, N float answers at once (their stall, and the peak RSS over
what the process held before: VmHWM reset), and `small_us`, a small answer's call (1 x 256
floats, read whole on the loop) in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


async def _timed(coro: Any) -> float:
    """`coro`'s wall (ms)."""
    started = time.perf_counter()
    await coro
    return (time.perf_counter() - started) * 1000


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(inputs: int, dims: int, concurrent: int) -> None:
    import gc

    import httpx
    import orjson

    from admin_views_loop_stall import _stall_while  # this folder's (the loop's 1 ms ticker)
    from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
    from arbiter.upstream.openai import OpenAIUpstream

    sys.setswitchinterval(0.001)  # as `arbiter serve` sets it
    rng = random.Random(7)
    answer = orjson.dumps({
        "object": "list", "model": "em",
        "data": [{"object": "embedding", "index": i,
                  "embedding": [rng.uniform(-1, 1) for _ in range(dims)]} for i in range(inputs)],
        "usage": {"prompt_tokens": inputs, "total_tokens": inputs},
    })  # fmt: skip
    small = orjson.dumps({
        "object": "list", "model": "em",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25] * 256}],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    })  # fmt: skip
    gc.collect()

    def upstream_of(content: bytes) -> OpenAIUpstream:
        return OpenAIUpstream(
            UpstreamSettings("up", "http://upstream.test/v1", max_response_bytes=1 << 30),
            FailoverSettings(),
            transport=httpx.MockTransport(lambda request: httpx.Response(200, content=content)),
        )

    upstream = upstream_of(answer)
    model = ModelSettings("em", "up", 0.1, 0.0)
    out: dict[str, Any] = {"bytes": len(answer)}
    for fmt in ("float", "base64"):
        body = {"model": "em", "input": ["x"] * inputs, "encoding_format": fmt}
        call = upstream.call_endpoint("/embeddings", body, model)
        stall, wall = asyncio.run(_stall_while(_timed(call)))
        out[fmt] = {"stall_ms": round(stall, 1), "wall_ms": round(wall, 1)}
    # `concurrent` float answers at once: the stall and the peak RSS over what was held before
    # (VmHWM reset: /proc/self/clear_refs "5"); each answer its own bytes, as each would come
    bodies = [bytes(answer) for _ in range(concurrent)]
    del answer
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kb("VmRSS")
    body = {"model": "em", "input": ["x"] * inputs, "encoding_format": "float"}

    async def many() -> None:
        calls = [upstream_of(b).call_endpoint("/embeddings", body, model) for b in bodies]
        await asyncio.gather(*calls)

    stall, wall = asyncio.run(_stall_while(_timed(many())))
    out[f"x{concurrent}"] = {
        "stall_ms": round(stall, 1), "wall_ms": round(wall, 1),
        "peak_mb": round((_rss_kb("VmHWM") - before) / 1024, 1),
    }  # fmt: skip
    # the small answer's path (under INLINE_BYTES, read whole on the loop): its cost a call
    small_up = upstream_of(small)
    small_body = {"model": "em", "input": "x", "encoding_format": "float"}

    async def smalls(n: int) -> None:
        for _ in range(n):
            await small_up.call_endpoint("/embeddings", small_body, model)

    asyncio.run(smalls(200))  # warm
    started = time.perf_counter()
    asyncio.run(smalls(2000))
    out["small_us"] = round((time.perf_counter() - started) / 2000 * 1e6, 1)
    print(json.dumps(out))


def _run(tree: Path, inputs: int, dims: int, concurrent: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "python")}
    args = [sys.executable, __file__, "--child", "--inputs", str(inputs), "--dims", str(dims),
            "--concurrent", str(concurrent)]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path)
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inputs", type=int, default=2048)
    ap.add_argument("--dims", type=int, default=1536)
    ap.add_argument("--concurrent", type=int, default=6)
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        return _child(a.inputs, a.dims, a.concurrent)
    if a.base is None:
        ap.error("--base is required")
    trees = {"base": a.base, "ours": a.ours}
    many = f"x{a.concurrent}"
    keys = ("float", "base64", many, f"{many}_peak_mb", "small_us")
    seen: dict[str, dict[str, list[float]]] = {name: {k: [] for k in keys} for name in trees}
    for r in range(a.rounds):  # interleaved: base, ours, then ours, base
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            got = _run(trees[name].resolve(), a.inputs, a.dims, a.concurrent)
            for fmt in ("float", "base64", many):
                seen[name][fmt].append(got[fmt]["stall_ms"])
            seen[name][f"{many}_peak_mb"].append(got[many]["peak_mb"])
            seen[name]["small_us"].append(got["small_us"])
            print(f"round {r} {name}: {json.dumps(got)} load {os.getloadavg()[0]:.1f}", flush=True)
    for key in keys:
        b, o = seen["base"][key], seen["ours"][key]
        ratio = sorted(o)[len(o) // 2] / max(sorted(b)[len(b) // 2], 1e-9)
        what = key if key.endswith(("_mb", "_us")) else f"{key} stall ms"
        print(f"{what}: base {min(b):.0f}-{max(b):.0f}, ours {min(o):.0f}-{max(o):.0f}, "
              f"ratio of medians {ratio:.3f}")  # fmt: skip
    print(f"load: {os.getloadavg()}")


if __name__ == "__main__":
    main()
