"""What the exact response cache costs and saves per request, through the live in-process
sidecar (its ASGI app, the simulated pool on a loopback thread, SQLite store).

Measures, after a warm-up:
  hit       a repeated prompt answered from the cache, whole request (client -> app -> body);
            `hit_added` subtracts an authenticated GET /v1/models through the same client
            (what any request costs here before the cache is involved)
  stream    the same hit replayed as SSE
  lookup    ResponseCache.lookup on a miss (key hash, memory front, store read-through): what a
            miss pays with the cache on; `key` is the hash alone
  off       the same lookup gate with the cache off (the `cache.active` check only)
Prints a table and ends with one JSON line. Goals: a hit served in <= 1 ms added; a miss pays
~0 with the cache off and little with it on.

    python bench/cache_exact.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.inproc import InProcess, sidecar_in_process

from arbiter.cache.keys import keys_for
from arbiter.principal import Principal
from arbiter.surfaces.openai_chat import parse_chat_request

PROMPT = "Summarise the causes of the French Revolution in three sentences. " * 4
CHAT = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def measure(sc: InProcess, n: int) -> dict[str, float]:
    auth = sc.auth

    async def hit() -> None:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=auth)
        assert r.headers["x-arbiter-cache"] == "hit", r.headers

    async def stream() -> None:
        r = await sc.client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=auth
        )
        assert r.headers["x-arbiter-cache"] == "hit" and r.content.endswith(b"[DONE]\n\n")

    async def models() -> None:
        assert (await sc.client.get("/v1/models", headers=auth)).status_code == 200

    first = await sc.client.post("/v1/chat/completions", json=CHAT, headers=auth)
    assert first.headers["x-arbiter-cache"] == "miss"
    await sc.services.cache.drain()
    await timed(50, hit)
    await timed(50, models)
    hits, base, streams = await timed(n, hit), await timed(n, models), await timed(n, stream)

    cache = sc.services.cache
    principal = Principal("default")
    lookups = []
    for i in range(n):
        req = parse_chat_request(orjson.dumps({**CHAT, "messages": [
            {"role": "user", "content": f"{PROMPT} #{i}"}]}))  # fmt: skip
        start = time.perf_counter()
        look = await cache.lookup(req, principal)
        cache.settle(look)  # a miss leads its key's flight; its request's end settles it
        lookups.append((time.perf_counter() - start) * 1000)
        assert look.status == "miss"
    req = parse_chat_request(orjson.dumps(CHAT))
    start = time.perf_counter()
    for _ in range(10_000):
        keys_for("openai", req.body, principal)
    key_us = (time.perf_counter() - start) / 10_000 * 1e6
    cache.active = False
    start = time.perf_counter()
    for _ in range(100_000):
        if cache.active:
            raise AssertionError
    off_us = (time.perf_counter() - start) / 100_000 * 1e6
    cache.active = True
    return {
        "requests": n,
        "hit_p50_ms": statistics.median(hits),
        "hit_p99_ms": pct(hits, 99),
        "baseline_p50_ms": statistics.median(base),
        "hit_added_p50_ms": statistics.median(hits) - statistics.median(base),
        "hit_added_p99_ms": pct(hits, 99) - pct(base, 99),
        "stream_hit_p50_ms": statistics.median(streams),
        "miss_lookup_p50_ms": statistics.median(lookups),
        "miss_lookup_p99_ms": pct(lookups, 99),
        "key_us": key_us,
        "off_us": off_us,
    }


async def main(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with sidecar_in_process(
            Path(tmp), edit_config=lambda t: t + "\n[cache]\nenabled = true\n"
        ) as sc:
            return await measure(sc, n)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=400)
    args = ap.parse_args()
    out = asyncio.run(main(args.requests))
    width = max(map(len, out))
    for name, value in out.items():
        print(f"{name:<{width}}  {value:.4f}" if isinstance(value, float) else f"{name}  {value}")
    print(orjson.dumps({k: round(v, 4) for k, v in out.items()}).decode())
