"""The event-loop time one request costs, by prompt size and stage (perf19).

A single large request must not stall every other request on the sidecar's loop. This drives the
sidecar's ASGI app in this process (the simulated pool in a child process, so its parse of a
1 MB prompt is not on this interpreter's GIL), `model: auto`, the shipped knowledge_embed
difficulty model (examples/routing/knowledge.toml's), the semantic cache on, one request at a time
of 1 KB, 10 KB, 100 KB and 1 MB of prompt text (English, code, JSON, CJK) on each surface (OpenAI
chat, Anthropic messages, Responses), each prompt new (no cache hit), and reports per request:

- loop_ms: CPU time of the loop thread over the request (time.thread_time; the client's side is
  on that thread too, its body encoded beforehand), least of --reps runs;
- gap_ms: the longest gap of a 1 ms ticker task on the loop during the request (what every other
  request in flight waited; includes work in threads that held the GIL, and on a shared host
  the time the loop's thread was not scheduled), least of --reps further runs;
- per stage: the loop thread's cumulative CPU in each named stage (cProfile, time.thread_time, a
  second run of the same request shape), the stages over STAGE_REPORT_MS listed.

Ratios are to the 1 KB request of the same kind and surface, measured in the same run. Ends with
one JSON line.

Usage: python bench/loop_time_by_prompt_size.py [--sizes 1000,10000,100000,1000000]
          [--kinds english,code,json,cjk] [--surfaces chat,messages,responses] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from arbiter import config, tokenizer_load
from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV, demo_settings, sim_config
from arbiter.server import build_app
from arbiter.services import Services
from arbiter.toml_text import to_toml

# (stage, file suffix, function name): the loop's cumulative CPU in each, from the profile
STAGES: tuple[tuple[str, str, str], ...] = (
    ("read body", "request_body.py", "read_body"),
    ("decode (surface parse)", "surfaces/decode.py", "decode"),
    ("classify", "arbiter/classify.py", "classify"),
    ("prompt stats", "arbiter/difficulty.py", "prompt_stats_and_shape"),
    ("difficulty (knowledge_embed)", "arbiter/difficulty.py", "easiness_of"),
    ("routing decide", "arbiter/routing.py", "decide"),
    ("cache lookup", "cache/service.py", "lookup"),
    ("cache key", "cache/keys.py", "keys_for"),
    ("budget tokens", "arbiter/worst_case.py", "prompt_tokens"),
    ("upstream body", "arbiter/upstream_body.py", "body_for"),
    ("crossing check", "arbiter/upstream_body.py", "_crossing"),
    ("record", "arbiter/decision_record.py", "record_decision"),
    ("cache remember", "arbiter/cache_path.py", "remember_answer"),
)
STAGE_REPORT_MS = 0.5
TOP_SELF = int(os.environ.get("LOOP_BENCH_TOP", "3"))  # top functions by own time, per row


WORDS = ("the", "model", "routes", "each", "question", "to", "the", "cheapest", "one", "that")


def _text(kind: str, n: int, rng: random.Random) -> str:
    """`n` characters of `kind`, new each call (a nonce first: never a cache hit)."""
    nonce = f"[{rng.getrandbits(64):x}] "
    if kind == "english":
        body = " ".join(rng.choice(WORDS) for _ in range(n // 4))
    elif kind == "code":
        body = "def f(x):\n    return [i * x for i in range(10) if i % 2]\n" * (n // 55 + 1)
    elif kind == "json":
        body = json.dumps(
            [{"id": i, "name": f"item{i}", "tags": ["a", "b"]} for i in range(n // 40)]
        )
    else:  # CJK
        body = "路由模型的成本与质量之间需要权衡。" * (n // 17 + 1)
    return (nonce + body)[:n]


def _request(surface: str, text: str) -> tuple[str, bytes]:
    if surface == "chat":
        body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": text}]}
        return "/v1/chat/completions", orjson.dumps(body)
    if surface == "messages":
        body = {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
        return "/v1/messages", orjson.dumps(body)
    return "/v1/responses", orjson.dumps({"model": "auto", "input": text})


def _settings(sim_url: str, db: Path) -> str:
    doc = demo_settings(sim_url, db, auth=False, cache=True)
    doc["cache"] = {"enabled": True, "semantic": True}
    doc["routing"].update({"difficulty_model": "knowledge_embed", "explore": 0.0})
    for m in doc["models"].values():
        m["context_window"] = 2_000_000  # a 1 MB prompt is served, not refused for its length
    return to_toml(doc)


def _stage_ms(prof: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(prof)
    out: dict[str, float] = {}
    for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        for stage, suffix, name in STAGES:
            if func == name and file.endswith(suffix):
                out[stage] = out.get(stage, 0.0) + row[3] * 1e3  # cumulative
    # and the loop's top functions by own time, whichever stage they are in (what STAGES misses)
    top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:TOP_SELF]  # type: ignore[attr-defined]
    for (file, line, func), row in top:
        out[f"self {Path(file).name}:{line}({func})"] = row[2] * 1e3
    return out


async def _one(
    client: httpx.AsyncClient, path: str, raw: bytes, profile: bool = False, tick: bool = False
) -> dict[str, Any]:
    """One request: the loop thread's CPU over it; with `tick`, a 1 ms ticker's longest gap
    (its own wake-ups cost the loop CPU: loop_ms is read from runs without it)."""
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    gaps: list[float] = [0.0]
    done = not tick

    async def tick() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.005)
    prof = cProfile.Profile(time.thread_time) if profile else None
    cpu0 = time.thread_time()
    if prof:
        prof.enable()
    r = await client.post(path, content=raw, headers=headers)
    if prof:
        prof.disable()
    cpu = time.thread_time() - cpu0
    await asyncio.sleep(0.005)
    done = True
    await ticker
    if r.status_code != 200:
        raise SystemExit(f"{path} {len(raw)} B: {r.status_code} {r.text[:300]}")
    out: dict[str, Any] = {"loop_ms": cpu * 1e3, "gap_ms": max(gaps) * 1e3}
    if prof:
        out["stages"] = _stage_ms(prof)
    return out


async def _run(args: argparse.Namespace, sim_url: str, db: Path) -> list[dict[str, Any]]:
    settings = config.loads(_settings(sim_url, db), env=dict(os.environ))
    services = Services(settings, seed=7)
    app = build_app(settings, services=services)
    await services.start()
    tokenizer_load.load_now()
    rng = random.Random(19)
    rows: list[dict[str, Any]] = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=120
        ) as client:
            for _ in range(3):  # warm-up: first calls load tables, compile paths
                await _one(client, *_request("chat", _text("english", 1000, rng)))
            for surface in args.surfaces.split(","):
                for kind in args.kinds.split(","):
                    for size in [int(s) for s in args.sizes.split(",")]:
                        plain, ticked = [], []
                        for _ in range(args.reps):
                            req = _request(surface, _text(kind, size, rng))
                            plain.append(await _one(client, *req))
                            req = _request(surface, _text(kind, size, rng))
                            ticked.append(await _one(client, *req, tick=True))
                        req = _request(surface, _text(kind, size, rng))
                        prof = await _one(client, *req, profile=True)
                        rows.append(
                            {
                                "surface": surface,
                                "kind": kind,
                                "chars": size,
                                "loop_ms": min(r["loop_ms"] for r in plain),
                                "gap_ms": min(r["gap_ms"] for r in ticked),
                                "stages": prof["stages"],
                            }
                        )
                        print(_line(rows[-1], rows), flush=True)
    finally:
        await services.stop()
    return rows


def _base(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        (r for r in rows if r["surface"] == row["surface"] and r["kind"] == row["kind"]), row
    )


def _line(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    base = _base(row, rows)
    big = sorted(
        ((ms, st) for st, ms in row["stages"].items() if ms >= STAGE_REPORT_MS), reverse=True
    )
    stages = ", ".join(f"{st} {ms:.1f}" for ms, st in big) or "-"
    return (
        f"{row['surface']:<9} {row['kind']:<7} {row['chars']:>8} | loop {row['loop_ms']:8.2f} ms"
        f" ({row['loop_ms'] / base['loop_ms']:6.1f}x) | gap {row['gap_ms']:8.2f} ms"
        f" ({row['gap_ms'] / base['gap_ms']:6.1f}x) | stages ms (profiled): {stages}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--kinds", default="english,code,json,cjk")
    ap.add_argument("--surfaces", default="chat,messages,responses")
    ap.add_argument("--reps", type=int, default=3, help="unprofiled runs per cell (min reported)")
    args = ap.parse_args()
    os.environ.setdefault(API_KEY_ENV, "sim-bench-key")
    os.environ.setdefault(ADMIN_KEY_ENV, "adm-bench-" + os.urandom(8).hex())
    with tempfile.TemporaryDirectory(prefix="loop-by-size-") as tmp:
        sim_cfg = Path(tmp) / "sim.toml"
        sim_cfg.write_text(sim_config())
        sock = loopback_listener()
        root = f"http://127.0.0.1:{port_of(sock)}"
        argv = [sys.executable, "-m", "arbiter", "sim", "--config", str(sim_cfg), *fd_args(sock)]
        sim = spawn_on(sock, argv, dict(os.environ), stdout=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{root}/v1/models", timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            rows = asyncio.run(_run(args, f"{root}/v1", Path(tmp) / "arbiter.db"))
        finally:
            sim.terminate()
            sim.wait(timeout=20)
    worst = max(rows, key=lambda r: r["gap_ms"])
    summary = {
        "bench": "loop_time_by_prompt_size",
        "rows": [
            {
                **{k: r[k] for k in ("surface", "kind", "chars")},
                "loop_ms": round(r["loop_ms"], 3),
                "gap_ms": round(r["gap_ms"], 3),
                "loop_ratio_to_1k": round(r["loop_ms"] / _base(r, rows)["loop_ms"], 2),
                "stages_ms": {k: round(v, 3) for k, v in r["stages"].items() if v >= 0.05},
            }
            for r in rows
        ],
        "worst_gap_ms": round(worst["gap_ms"], 3),
        "worst_gap_at": f"{worst['surface']} {worst['kind']} {worst['chars']}",
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
