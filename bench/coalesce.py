"""100 identical concurrent streams: upstream calls, time to first token, CPU per request, for
code variants side by side (coalesce27).

Per round and variant (interleaved: a, b, a, b, ...), a child process imports that variant's
`arbiter` and runs tests/coalesce_rig.py: a sidecar (uvicorn on 127.0.0.1, cache on) before a
scripted upstream on another loopback socket (40 one-word chunks, `--chunk-ms` apart, not held),
then sends `--streams` identical OpenAI chat streams at once (raw httpx, half with
`stream_options.include_usage`). It reports the upstream's calls, each stream's time to its
first word (the "followers": every stream but the first sent), the streams whose text was not
the whole answer (must be 0), and the child's CPU seconds per stream (sidecar, clients and the
scripted upstream share the process: the upstream's and the clients' share is the same per
stream, the upstream's per call; so this overstates the sidecar's own and a variant making
more calls pays for its upstream's work too). Bounded: each child has `--child-timeout-s`.

`--distinct` is the control: every stream its own prompt, so each leads its own call in both
variants (the leader's path alone: its relay pumped by a task of its own in b).

Usage: python bench/coalesce.py --variant a=/work/wt/base27/python --variant b=python
          [--streams 100] [--rounds 3] [--chunk-ms 5] [--distinct]
Prints a table, the ratios b/a, and ends with one JSON line {"streams": N, "upstream_calls": x,
"follower_ttfb_p99_ms": y, ...} for the last variant (the others' under "variants").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASK = [{"role": "user", "content": "Tell me about tides."}]


async def _child(streams: int, chunk_ms: float, distinct: bool) -> dict[str, Any]:
    import httpx
    from tests.coalesce_rig import ANSWER, Script, coalescing_rig

    script = Script(hold=False, chunk_s=chunk_ms / 1000)
    async with coalescing_rig(Path(tempfile.mkdtemp()), script) as rig:
        limits = httpx.Limits(max_connections=streams + 8)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            headers = {"authorization": f"Bearer {rig.key}"}

            async def one(i: int) -> tuple[float, bool, str]:
                ask = (
                    [{"role": "user", "content": f"Tell me about tides, {i}."}] if distinct else ASK
                )
                body: dict[str, Any] = {"model": "oa-raw", "messages": ask, "stream": True}
                if i % 2 == 0:
                    body["stream_options"] = {"include_usage": True}
                sent = time.perf_counter()
                first = None
                raw = b""
                async with client.stream(
                    "POST", rig.url + "/v1/chat/completions", json=body, headers=headers
                ) as r:
                    status = r.headers.get("x-arbiter-cache", "")
                    async for chunk in r.aiter_bytes():
                        raw += chunk
                        if first is None and b'"content":"w0' in raw:
                            first = time.perf_counter()
                text = "".join(
                    (c.get("delta") or {}).get("content") or ""
                    for line in raw.split(b"\n\n")
                    if line.startswith(b"data: {")
                    for c in json.loads(line[6:]).get("choices", [])
                )
                assert first is not None, raw[:300]
                return (first - sent) * 1000, text == ANSWER, status

            # a warm-up stream (another prompt's cache key: its own call), then the burst
            warm = await client.post(
                rig.url + "/v1/chat/completions", headers=headers,
                json={"model": "oa-raw", "messages": [{"role": "user", "content": "warm"}],
                      "stream": True},
            )  # fmt: skip
            assert warm.status_code == 200
            calls0 = script.calls
            cpu0 = time.process_time()
            got = await asyncio.gather(*(one(i) for i in range(streams)))
            cpu = time.process_time() - cpu0
            await asyncio.sleep(0.2)
            calls = script.calls - calls0
    ttfb = [g[0] for g in got[1:]]
    q = statistics.quantiles(ttfb, n=100)
    return {
        "upstream_calls": calls,
        "follower_ttfb_p50_ms": statistics.median(ttfb),
        "follower_ttfb_p99_ms": q[98],
        "incomplete": sum(1 for g in got if not g[1]),
        "hits": sum(1 for g in got if g[2] == "hit"),
        "cpu_ms_per_stream": cpu * 1000 / streams,
    }


def _run(src: str, streams: int, chunk_ms: float, limit_s: float, distinct: bool) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{ROOT}")
    argv = [sys.executable, __file__, "--child", str(streams), str(chunk_ms), str(int(distinct))]
    out = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=limit_s, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        got = _child(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1")
        print(json.dumps(asyncio.run(got)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True, help="NAME=PYTHONPATH")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk-ms", type=float, default=5.0)
    ap.add_argument("--child-timeout-s", type=float, default=180.0)
    ap.add_argument(
        "--distinct", action="store_true",
        help="the control: every stream its own prompt (each leads: the leader's path alone)",
    )  # fmt: skip
    a = ap.parse_args()
    variants = [v.split("=", 1) for v in a.variant]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    for r in range(a.rounds):
        order = variants if r % 2 == 0 else variants[::-1]  # ABBA: each sees the same load
        for name, src in order:
            got = _run(src, a.streams, a.chunk_ms, a.child_timeout_s, a.distinct)
            runs[name].append(got)
            print(f"round {r} {name}: {got}", flush=True)
    print(f"load: {os.getloadavg()}")
    keys = list(runs[variants[0][0]][0])
    summary: dict[str, dict[str, Any]] = {}
    print("| variant | " + " | ".join(f"{k} (median [min..max])" for k in keys) + " |")
    for name, _ in variants:
        vals = {k: [g[k] for g in runs[name]] for k in keys}
        summary[name] = {k: statistics.median(v) for k, v in vals.items()}
        cells = [f"{statistics.median(v):.1f} [{min(v):.1f}..{max(v):.1f}]" for v in vals.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if len(variants) >= 2:
        base, new = variants[0][0], variants[-1][0]
        for k in ("upstream_calls", "follower_ttfb_p50_ms", "follower_ttfb_p99_ms",
                  "cpu_ms_per_stream"):  # fmt: skip
            ratio = summary[new][k] / summary[base][k] if summary[base][k] else float("nan")
            print(f"ratio {new}/{base} {k}: {ratio:.3f}")
    last = variants[-1][0]
    print(json.dumps({"streams": a.streams, **summary[last], "variants": summary}))


if __name__ == "__main__":
    main()
