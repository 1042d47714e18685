"""A bounded chaos run: the routed models fail ~30% of calls in mixed ways, one model is down.

Starts a sim pool and a sidecar (child processes on loopback), sends `--requests` requests (half
of them streaming, `--concurrency` at a time, stopping early at `--max-seconds`) and judges every
answer from the client's side: success, truncated (a stream that ended "cleanly" with text that
is not the whole answer: its length disagrees with the upstream's usage, or it ended with neither
[DONE] nor an error event), clean error (OpenAI-shaped, not a 500) or unclean. Then reads every
decision from the sidecar's feed to count fallbacks. Ends with one JSON line.

    .venv/bin/python bench/chaos.py                      # 2,000 requests, ~1-2 minutes
    .venv/bin/python bench/chaos.py --midstream 0.02     # also cut streams after their first token
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Sidecar, start_sim

from arbiter.offline.demo import API_KEY_ENV
from arbiter.offline.workload import make_workload
from arbiter.toml_text import to_toml

ROUTED = ("c-a", "c-b", "c-c")
DOWN = "c-down"  # the cheapest model, and down for the whole run
PRICES = {"c-down": (0.05, 0.1), "c-a": (0.1, 0.2), "c-b": (0.5, 1.5), "c-c": (2.5, 10.0)}
Outcome = Literal["ok", "truncated", "clean_error", "unclean_error"]


def sim_toml(midstream: float) -> str:
    """Each routed model: 25% request-level failures (5xx, 429, hang, malformed 200) plus 5%
    stalls past the first-byte timeout and, on streams, 5% cuts before the first token."""
    failures = {"error_5xx": 0.10, "error_429": 0.05, "timeout": 0.05, "malformed": 0.05,
                "stall": 0.05, "stall_ms": 1500, "stream_cut": 0.05, "stream_cut_after": 0,
                "trickle": 0.02, "trickle_ms": 20, "malformed_chunk": midstream}  # fmt: skip
    models = {
        name: {"price_in_per_mtok": PRICES[name][0], "price_out_per_mtok": PRICES[name][1],
               "latency_ms": 15.0, "latency_jitter_ms": 5.0, "ms_per_chunk": 1.0,
               "failures": dict(failures)}
        for name in (DOWN, *ROUTED)
    }  # fmt: skip
    return to_toml({"seed": 11, "hang_s": 2.0, "models": models})


def sidecar_toml(sim_url: str, db: Path) -> str:
    return to_toml({
        "server": {"log_level": "warning"},
        "auth": {"mode": "open"},
        "store": {"url": f"sqlite:///{db}"},
        "routing": {"baseline": "c-c"},
        "failover": {"connect_timeout_s": 0.5, "first_byte_timeout_s": 0.5,
                     "total_timeout_s": 10.0, "deadline_s": 8.0, "retries_per_model": 2,
                     "backoff_ms": 20, "max_models": 4},
        "breaker": {"failure_threshold": 10, "cooldown_s": 5.0},
        "upstreams": {"sim": {"base_url": sim_url, "api_key_env": API_KEY_ENV}},
        "models": {
            name: {"upstream": "sim", "price_in_per_mtok": pin, "price_out_per_mtok": pout,
                   "context_window": 32000,
                   "capabilities": ["chat", "json", "json-schema", "tools"]}
            for name, (pin, pout) in PRICES.items()
        },
    })  # fmt: skip


@dataclass(slots=True)
class Result:
    stream: bool
    outcome: Outcome
    status: int
    detail: str = ""
    decision_id: str | None = None
    seconds: float = 0.0


def _is_openai_error(payload: Any) -> bool:
    err = payload.get("error") if isinstance(payload, dict) else None
    return isinstance(err, dict) and {"message", "type", "code"} <= set(err)


def _error_result(stream: bool, status: int, raw: bytes) -> Result:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    clean = status != 500 and _is_openai_error(payload)
    code = payload["error"]["code"] if clean else raw[:80].decode("utf-8", "replace")
    return Result(stream, "clean_error" if clean else "unclean_error", status, str(code))


def _complete(text: str, usage: Any) -> bool:
    """The sim's usage counts ceil(len / 4) tokens of the text it produced."""
    if not isinstance(usage, dict):
        return False
    return usage.get("completion_tokens") == math.ceil(len(text) / 4)


async def _plain(c: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Result:
    r = await c.post(url, json=body)
    if r.status_code != 200:
        return _error_result(False, r.status_code, r.content)
    data = orjson.loads(r.content)
    text = data["choices"][0]["message"]["content"] or ""
    ok = _complete(text, data.get("usage"))
    return Result(False, "ok" if ok else "truncated", 200, "" if ok else "length/usage mismatch",
                  r.headers.get("x-arbiter-decision-id"))  # fmt: skip


async def _stream(c: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Result:
    body = {**body, "stream": True, "stream_options": {"include_usage": True}}
    async with c.stream("POST", url, json=body) as r:
        if r.status_code != 200:
            return _error_result(True, r.status_code, await r.aread())
        decision_id = r.headers.get("x-arbiter-decision-id")
        data = [line[6:] async for line in r.aiter_lines() if line.startswith("data: ")]
    parts: list[str] = []
    usage: Any = None
    finish = None
    for item in data[:-1] if data and data[-1] == "[DONE]" else data:
        chunk = orjson.loads(item)
        if "error" in chunk:
            clean = item is data[-1] and _is_openai_error(chunk)
            outcome: Outcome = "clean_error" if clean else "unclean_error"
            return Result(True, outcome, 200, str(chunk["error"].get("code")), decision_id)
        for choice in chunk.get("choices") or []:
            parts.append(choice.get("delta", {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
        usage = chunk.get("usage") or usage
    text = "".join(parts)
    if not data or data[-1] != "[DONE]":
        return Result(True, "truncated", 200, "ended without [DONE] or an error", decision_id)
    if finish is None or not _complete(text, usage):
        return Result(True, "truncated", 200, "[DONE] but incomplete text", decision_id)
    return Result(True, "ok", 200, "", decision_id)


async def drive(base_url: str, n: int, concurrency: int, max_seconds: float) -> list[Result]:
    items = make_workload(n, seed=2024)
    url = f"{base_url}/chat/completions"
    results: list[Result] = []
    next_i = 0
    stop_at = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as c:

        async def worker() -> None:
            nonlocal next_i
            while next_i < n and time.monotonic() < stop_at:
                i, next_i = next_i, next_i + 1
                item = items[i]
                body: dict[str, Any] = {"model": "auto", "messages": item.messages,
                                        "max_tokens": item.max_tokens}  # fmt: skip
                if item.response_format is not None:
                    body["response_format"] = item.response_format
                started = time.monotonic()
                try:
                    res = await (_stream if i % 2 else _plain)(c, url, body)
                except (httpx.HTTPError, orjson.JSONDecodeError, KeyError, TypeError) as err:
                    res = Result(bool(i % 2), "unclean_error", 0, f"{type(err).__name__}: {err}")
                res.seconds = time.monotonic() - started
                results.append(res)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def decisions(root_url: str, ids: list[str], concurrency: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    queue = list(ids)
    async with httpx.AsyncClient(timeout=30) as c:

        async def worker() -> None:
            while queue:
                r = await c.get(f"{root_url}/arbiter/decisions/{queue.pop()}")
                if r.status_code == 200:
                    rows.append(r.json())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return rows


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(int(q * len(s)), len(s) - 1)] if s else 0.0


def report(results: list[Result], rows: list[dict[str, Any]], elapsed: float,
           sim_stats: dict[str, Any], circuits: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    n = len(results)
    outcomes = Counter(r.outcome for r in results)
    fallbacks = sum(1 for row in rows if len({a["model"] for a in row["attempts"]}) > 1)
    retried = sum(1 for row in rows if len(row["attempts"]) > 1)
    failed_attempts = Counter(
        a.get("error") for row in rows for a in row["attempts"] if not a["ok"]
    )
    served = Counter(row["chosen_model"] for row in rows if row["status"] == "ok")
    upstream_calls = sum(m["requests"] for m in sim_stats["models"].values())
    upstream_failures = Counter[str]()
    for m in sim_stats["models"].values():
        upstream_failures.update(m["failures"])
    by_id = {row["id"]: row for row in rows}
    disagree = sum(
        1
        for r in results
        if r.decision_id in by_id
        and (r.outcome == "ok") != (by_id[r.decision_id]["status"] == "ok")
    )
    ok_seconds = [r.seconds for r in results if r.outcome == "ok"]
    print(f"requests            {n} in {elapsed:.1f}s ({n / elapsed:.0f}/s), half streaming")
    print(f"upstream calls      {upstream_calls}; sim-injected faults: {dict(upstream_failures)}")
    print(f"client outcomes     {dict(outcomes)}")
    for kind in ("truncated", "clean_error", "unclean_error"):
        for r in [r for r in results if r.outcome == kind][:5]:
            print(f"  {kind:14s} stream={r.stream} status={r.status} {r.detail}")
    print(f"decisions read      {len(rows)}; with a retry {retried}; with a fallback {fallbacks}")
    print(f"record vs client    {disagree} decisions whose status disagrees with the client's view")
    print(f"failed attempts     {dict(failed_attempts)}")
    print(f"served by           {dict(served)}")
    print(f"latency (ok)        p50 {pct(ok_seconds, 0.5) * 1000:.0f} ms, "
          f"p99 {pct(ok_seconds, 0.99) * 1000:.0f} ms")  # fmt: skip
    print(f"circuits at the end {circuits}")
    return {
        "requests": n,
        "client_success_rate": round(outcomes["ok"] / n, 5) if n else 0.0,
        "truncated_streams": sum(1 for r in results if r.outcome == "truncated" and r.stream),
        "unclean_errors": outcomes["unclean_error"],
        "fallbacks": fallbacks,
        "clean_errors": outcomes["clean_error"],
        "truncated_non_streaming": sum(
            1 for r in results if r.outcome == "truncated" and not r.stream
        ),
        "retried": retried,
        "record_disagrees": disagree,
        "upstream_calls": upstream_calls,
        "elapsed_s": round(elapsed, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=150.0)
    ap.add_argument(
        "--midstream",
        type=float,
        default=0.0,
        help="chance a stream sends a garbage chunk after its first tokens (unrecoverable)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="arbiter-chaos-") as tmp:
        work = Path(tmp)
        (work / "sim.toml").write_text(sim_toml(args.midstream))
        sim, sim_root = start_sim(work / "sim.toml")
        try:
            httpx.post(
                f"{sim_root}/_sim/control", json={"model": DOWN, "down": True}
            ).raise_for_status()
            (work / "arbiter.toml").write_text(sidecar_toml(f"{sim_root}/v1", work / "a.db"))
            sidecar = Sidecar(work / "arbiter.toml").start()
            try:
                started = time.monotonic()
                results = asyncio.run(
                    drive(sidecar.base_url, args.requests, args.concurrency, args.max_seconds)
                )
                elapsed = time.monotonic() - started
                ids = [r.decision_id for r in results if r.decision_id]
                rows = asyncio.run(decisions(sidecar.root_url, ids, args.concurrency))
                circuits = httpx.get(f"{sidecar.root_url}/arbiter/stats", timeout=30).json()
                sim_stats = httpx.get(f"{sim_root}/_sim/stats").json()
                summary = report(results, rows, elapsed, sim_stats, circuits["circuits"])
            finally:
                sidecar.stop()
        finally:
            sim.stop()
    print(orjson.dumps(summary).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
