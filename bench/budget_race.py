"""Budget caps under concurrency: many concurrent requests from several keys against one cap.

Starts a sim pool and N sidecars sharing one store (SQLite file by default, or --store-url for
PostgreSQL), caps global spend at the worth of ~20 requests, fires bounded concurrent bursts, and
checks the recorded spend never passes the cap by more than one request's worst case. Also sends
requests with invalid keys and counts any that reached the upstream. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Proc, Sidecar
from tests.pg import fresh_database

from arbiter.demo import ADMIN_KEY_ENV, API_KEY_ENV, DEMO_POOL, demo_config, free_port, sim_config

MAX_TOKENS = 200
PROMPT = "Write a short poem about a lighthouse keeper."  # about 12 tokens
MODEL = "sim-premium"


def worst_case_usd() -> float:
    pin, pout = DEMO_POOL[MODEL][0], DEMO_POOL[MODEL][1]
    prompt_tokens = (len(PROMPT) + 3) // 4 + 4  # the sidecar's estimate: chars/4 + 4 per message
    return (prompt_tokens * pin + MAX_TOKENS * pout) / 1e6


async def typical_cost(sim_url: str) -> float:
    """One request's real cost, asked of the sim directly (the cap is 'worth 20 requests')."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    async with httpx.AsyncClient(timeout=30, headers={"authorization": "Bearer x"}) as c:
        usage = (await c.post(f"{sim_url}/chat/completions", json=body)).json()["usage"]
    pin, pout = DEMO_POOL[MODEL][0], DEMO_POOL[MODEL][1]
    return float(usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6


async def burst(
    urls: list[str],
    keys: list[str],
    n: int,
    bad: int,
    sim_root: str,
    concurrency: int,
    waves: int,
) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=400)) as c:
        before = (await c.get(f"{sim_root}/_sim/stats")).json()["models"]

        async def one(i: int, key: str) -> tuple[int, str | None]:
            r = await c.post(
                f"{urls[i % len(urls)]}/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {key}"},
            )
            code = r.json().get("error", {}).get("code") if r.status_code != 200 else None
            return r.status_code, code

        results: list[tuple[int, str | None]] = []
        per_wave = -(-n // waves)
        for w in range(waves):  # a wave at a time, so settled spend frees room for the next
            ids = range(w * per_wave, min((w + 1) * per_wave, n))
            results += await asyncio.gather(*(one(i, keys[i % len(keys)]) for i in ids))
            await asyncio.sleep(0.3)
        results += await asyncio.gather(*(one(i, "arb-000000000000-forged") for i in range(bad)))
        await asyncio.sleep(1.0)  # let settlements land
        after = (await c.get(f"{sim_root}/_sim/stats")).json()["models"]
    upstream = sum(
        after[m]["requests"] - before.get(m, {}).get("requests", 0) for m in after if m != "judge"
    )
    good = results[:n]
    ok = sum(1 for s, _ in good if s == 200)
    refused = [(s, code) for s, code in good if s != 200]
    return {
        "ok": ok,
        "refused": len(refused),
        "refused_with_budget_error": sum(
            1 for s, c in refused if s == 429 and c == "budget_exceeded"
        ),
        "bad_key_401": sum(1 for s, _ in results[n:] if s == 401),
        "reached_upstream_without_valid_key": max(upstream - ok, 0),
    }


def run(
    sidecars: int, store_url: str | None, requests: int, bad: int, concurrency: int, waves: int
) -> dict[str, Any]:
    if store_url:
        with fresh_database(store_url) as url:
            return _run(sidecars, url, requests, bad, concurrency, waves)
    return _run(sidecars, None, requests, bad, concurrency, waves)


def _run(
    sidecars: int, store_url: str | None, requests: int, bad: int, concurrency: int, waves: int
) -> dict[str, Any]:
    worst = worst_case_usd()
    with tempfile.TemporaryDirectory(prefix="arbiter-budget-") as tmp:
        work = Path(tmp)
        env = {**os.environ, API_KEY_ENV: "sim-key", ADMIN_KEY_ENV: "adm-" + os.urandom(8).hex()}
        (work / "sim.toml").write_text(sim_config())
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}/v1"
        sim = Proc(
            [
                sys.executable,
                "-m",
                "arbiter",
                "sim",
                "--config",
                str(work / "sim.toml"),
                "--port",
                str(sim_port),
            ],
            f"{sim_url}/models",
            env,
        ).start()
        cap = round(20 * asyncio.run(typical_cost(sim_url)), 6)
        text = demo_config(sim_url, work / "arbiter.db").replace(
            "judge_sample_rate = 1.0", "judge_sample_rate = 0.0"
        )
        if store_url:
            text = text.replace(f'url = "sqlite:///{work / "arbiter.db"}"', f'url = "{store_url}"')
        text += f'\n[[budgets.caps]]\nscope = "global"\nlimit_usd = {cap}\nwindow = "total"\n'
        (work / "arbiter.toml").write_text(text)
        procs = [Sidecar(work / "arbiter.toml", env) for _ in range(sidecars)]
        try:
            for p in procs:
                p.start()
            admin = {"authorization": f"Bearer {env[ADMIN_KEY_ENV]}"}
            keys = [
                httpx.post(
                    f"{procs[0].root_url}/arbiter/admin/keys",
                    headers=admin,
                    json={"tenant": f"t{i % 2}"},
                ).json()["key"]
                for i in range(4)
            ]
            res = asyncio.run(
                burst(
                    [p.base_url for p in procs],
                    keys,
                    requests,
                    bad,
                    sim_url.removesuffix("/v1"),
                    concurrency,
                    waves,
                )
            )
            usage = httpx.get(f"{procs[0].root_url}/arbiter/budgets", headers=admin).json()["data"]
            spent = next(u["spent_usd"] for u in usage if u["scope"] == "global")
        finally:
            for p in procs:
                p.stop()
            sim.stop()
    return {
        "sidecars": sidecars,
        "store": "postgres" if store_url else "sqlite",
        "concurrency": concurrency,
        "waves": waves,
        "requests": requests,
        "cap_usd": cap,
        "spent_usd": round(spent, 8),
        "worst_case_request_usd": round(worst, 8),
        "overshoot_usd": round(max(spent - cap, 0.0), 8),
        **res,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--bad-key-requests", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=200, help="requests in flight at once")
    ap.add_argument(
        "--store-url",
        default=os.environ.get("ARBITER_BENCH_PG_URL"),
        help="postgresql://... to also run two sidecars on PostgreSQL",
    )
    args = ap.parse_args()
    n, bad, c = args.requests, args.bad_key_requests, args.concurrency
    runs = [run(1, None, n, bad, c, 1), run(2, None, n, bad, c, 1), run(2, None, n, bad, c, 8)]
    if args.store_url:
        runs += [run(2, args.store_url, n, bad, c, 1), run(2, args.store_url, n, bad, c, 8)]
    for r in runs:
        print(
            f"{r['sidecars']} sidecar(s) on {r['store']:<8} waves={r['waves']}: "
            f"{r['ok']} served, {r['refused']} "
            f"refused ({r['refused_with_budget_error']} with budget_exceeded), spent "
            f"${r['spent_usd']:.6f} of ${r['cap_usd']:.6f} (worst case/request "
            f"${r['worst_case_request_usd']:.6f}, overshoot ${r['overshoot_usd']:.6f}), "
            f"bad keys reaching upstream: {r['reached_upstream_without_valid_key']}"
        )
    final = dict(runs[-1])
    final["scenarios"] = runs
    print(orjson.dumps(final).decode())
    ok = all(
        r["overshoot_usd"] <= r["worst_case_request_usd"]
        and r["refused"] == r["refused_with_budget_error"]
        and r["reached_upstream_without_valid_key"] == 0
        for r in runs
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
