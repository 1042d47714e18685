"""What shadow traffic costs the callers: client-side latency of routed requests with shadow
calls off and on, per tree, interleaved (probe27a).

One `arbiter sim` (the demo pool, `--latency-scale`) and, per round, per tree and per setting,
one `arbiter serve` child on 127.0.0.1 (the demo config, the judge off, `sim-medium` a challenger;
`off`: `shadow.sample_rate` 0, the control with the same pool; `on`: 1.0, every answered request
copied to sim-medium). `--concurrency` clients send `--requests` short distinct prompts (the
figures) with a `--long-kb` prompt every `--long-every`-th request (its latency not counted: its
shadow call's worst case is what base27 tokenized on the event loop). Prints per variant the
short requests' p50 / p99 (ms) and the ratio to the first variant's `off` in the same round.

    python bench/shadow_tail.py --variant a=/work/wt/base27/python --variant b=python [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_config, sim_config

ADMIN = "bench-admin-key-0123456789abcdef"
SHADOW = '\n[shadow]\nchallengers = ["sim-medium"]\nsample_rate = {rate}\nbudget_usd = 1000.0\n'


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, bound_s: float = 60.0) -> None:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not up within {bound_s} s: {url}")


def _env(pythonpath: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": pythonpath, ADMIN_KEY_ENV: ADMIN, API_KEY_ENV: "sim"}


async def _drive(url: str, key: str, args: argparse.Namespace, tag: str) -> list[float]:
    """The short requests' latencies (ms)."""
    long_text = "Which of these costs less to route, and why? " * (args.long_kb * 1000 // 46)
    out: list[float] = []
    sent = 0
    headers = {"authorization": f"Bearer {key}"}

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < args.requests:
            i = sent = sent + 1
            long = args.long_every and i % args.long_every == 0
            text = long_text + str(i) if long else f"{tag} question {i}: name a prime over {i}."
            body = {"model": "auto", "messages": [{"role": "user", "content": text}],
                    "max_tokens": 32}  # fmt: skip
            t0 = time.perf_counter()
            r = await c.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            assert r.status_code == 200, r.text[:300]
            if not long:
                out.append((time.perf_counter() - t0) * 1000)

    async with httpx.AsyncClient(timeout=60) as c:
        await asyncio.gather(*(client(c) for _ in range(args.concurrency)))
    return out


def _one(pythonpath: str, rate: float, sim_url: str, args: argparse.Namespace, tag: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        text = demo_config(sim_url, Path(tmp) / "a.db").replace(
            "judge_sample_rate = 1.0", "judge_sample_rate = 0.0"
        )
        assert "judge_sample_rate = 0.0" in text
        cfg = Path(tmp) / "arbiter.toml"
        cfg.write_text(text + SHADOW.format(rate=rate))
        port = _port()
        cmd = [sys.executable, "-m", "arbiter", "serve", "--config", str(cfg), "--port", str(port)]
        proc = subprocess.Popen(cmd, env=_env(pythonpath), stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(f"{url}/healthz")
            admin = {"authorization": f"Bearer {ADMIN}"}
            key = httpx.post(f"{url}/arbiter/admin/keys", json={"tenant": "t"}, headers=admin)
            key.raise_for_status()
            lat = asyncio.run(_drive(url, key.json()["key"], args, tag))
            shadow = httpx.get(f"{url}/arbiter/challengers", headers=admin).json()
            calls = sum(int(c["calls"]) for c in shadow["data"])
            return lat, calls
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", action="append", required=True, help="name=PYTHONPATH")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--long-every", type=int, default=10)
    p.add_argument("--long-kb", type=int, default=110)
    p.add_argument("--latency-scale", type=float, default=0.2)
    args = p.parse_args()
    variants = [v.split("=", 1) for v in args.variant]
    print(f"load: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sim_cfg = Path(tmp) / "sim.toml"
        sim_cfg.write_text(sim_config())
        port = _port()
        cmd = [sys.executable, "-m", "arbiter", "sim", "--config", str(sim_cfg), "--port",
               str(port), "--latency-scale", str(args.latency_scale)]  # fmt: skip
        sim = subprocess.Popen(cmd, env=_env(os.environ.get("PYTHONPATH", "python")))
        rows: dict[str, list[dict[str, float]]] = {}
        try:
            _wait(f"http://127.0.0.1:{port}/_sim/stats")
            sim_url = f"http://127.0.0.1:{port}/v1"
            for rnd in range(args.rounds):
                ref = None
                for name, path in variants:
                    for setting, rate in (("off", 0.0), ("on", 1.0)):
                        tag = f"r{rnd}-{name}-{setting}"
                        lat, calls = _one(path, rate, sim_url, args, tag)
                        p50, p99 = statistics.median(lat), _q(lat, 0.99)
                        ref = ref or p99
                        row = {"p50_ms": p50, "p99_ms": p99, "p99_ratio": p99 / ref,
                               "shadow_calls": calls}  # fmt: skip
                        rows.setdefault(f"{name}-{setting}", []).append(row)
                        print(tag, json.dumps({k: round(v, 3) for k, v in row.items()}),
                              flush=True)  # fmt: skip
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    print(f"load: {os.getloadavg()}")
    summary = {
        k: {f: [round(min(r[f] for r in v), 3), round(max(r[f] for r in v), 3)] for f in v[0]}
        for k, v in rows.items()
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
