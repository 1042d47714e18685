"""Time to first token through Arbiter vs straight to the sim, measured in the same run.

Starts a sim (one model, fixed latency, no jitter, no failures) and a sidecar (child processes on
loopback), then sends `--n` streaming requests in rounds, one request at a time so nothing queues:
each round goes direct, through Arbiter by name (pass-through), and through Arbiter with
`model: auto` (routed: classification, difficulty model, bandit choice). Prints p50/p99 of the
time to the first content token for each, and what Arbiter adds; ends with one JSON line.

    .venv/bin/python bench/ttfb.py --n 300
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Sidecar, start_sim

from arbiter.offline.demo import API_KEY_ENV
from arbiter.toml_text import to_toml

MODEL = "t-model"
LATENCY_MS = 20.0


def sim_toml() -> str:
    return to_toml({
        "seed": 3,
        "models": {MODEL: {"latency_ms": LATENCY_MS, "latency_jitter_ms": 0,
                           "ms_per_chunk": 1.0}},
    })  # fmt: skip


def sidecar_toml(sim_url: str, db: Path) -> str:
    return to_toml({
        "server": {"log_level": "warning"},
        "auth": {"mode": "open"},
        "store": {"url": f"sqlite:///{db}"},
        "upstreams": {"sim": {"base_url": sim_url, "api_key_env": API_KEY_ENV}},
        "models": {MODEL: {"upstream": "sim", "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0,
                           "context_window": 32000}},
    })  # fmt: skip


async def first_token_ms(c: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    """Milliseconds from sending the request to the first chunk with non-empty content; the
    stream is then read to its end (so connections are reused as in real use)."""
    started = time.perf_counter()
    first: float | None = None
    async with c.stream("POST", url, json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if first is None and line.startswith("data: {"):
                chunk = orjson.loads(line[6:])
                choices = chunk.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    first = (time.perf_counter() - started) * 1000
    assert first is not None, "the stream carried no content"
    return first


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(int(q * len(s)), len(s) - 1)]


async def measure(sim_url: str, arbiter_url: str, n: int, warmup: int) -> dict[str, list[float]]:
    paths = {
        "direct": (sim_url, MODEL),
        "arbiter_passthrough": (arbiter_url, MODEL),
        "arbiter_auto": (arbiter_url, "auto"),
    }
    times: dict[str, list[float]] = {k: [] for k in paths}
    headers = {"authorization": "Bearer bench"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as c:
        for i in range(warmup + n):
            body_base = {
                "messages": [{"role": "user", "content": f"Say something about tides, #{i}."}],
                "stream": True,
            }
            for name, (base, model) in paths.items():
                body = {**body_base, "model": model}
                ms = await first_token_ms(c, f"{base}/chat/completions", body)
                if i >= warmup:
                    times[name].append(ms)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="measured rounds")
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="arbiter-ttfb-") as tmp:
        work = Path(tmp)
        (work / "sim.toml").write_text(sim_toml())
        sim, root = start_sim(work / "sim.toml")
        try:
            (work / "arbiter.toml").write_text(sidecar_toml(f"{root}/v1", work / "a.db"))
            sidecar = Sidecar(work / "arbiter.toml").start()
            try:
                times = asyncio.run(measure(f"{root}/v1", sidecar.base_url, args.n, args.warmup))
            finally:
                sidecar.stop()
        finally:
            sim.stop()
    out: dict[str, Any] = {"rounds": args.n, "sim_latency_ms": LATENCY_MS}
    print(f"time to first token, {args.n} sequential rounds (sim latency {LATENCY_MS:g} ms)")
    base50, base99 = pct(times["direct"], 0.5), pct(times["direct"], 0.99)
    for name, values in times.items():
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        added = f"  added p50 {p50 - base50:+.2f} ms  p99 {p99 - base99:+.2f} ms"
        print(f"  {name:20s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms" + ("" if name == "direct"
                                                                      else added))  # fmt: skip
        out[name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
        if name != "direct":
            out[name]["added_p50_ms"] = round(p50 - base50, 2)
            out[name]["added_p99_ms"] = round(p99 - base99, 2)
    print(orjson.dumps(out).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
