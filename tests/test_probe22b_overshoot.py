"""probe22b: one key's burst against a small cap, on `server.workers = 2` (SQLite) and on three
replicas of one PostgreSQL database: what the store recorded, what the upstream billed, and
how far either passed the cap (the promise: at most one request's worst case, issue 18).

The scripted upstream answers each call after 0.3 s, so the burst's holds overlap; every
answer is whole with its usage, so the store's spend must equal the upstream's bill exactly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.probe22b_rig import Fleet, fleet, outcome

CAP_USD = 0.5
MAX_TOKENS = 20
BURST = 48


async def _call(client: openai.AsyncOpenAI, stream: bool) -> None:
    if stream:
        chunks = await client.chat.completions.create(
            model="oa-1", messages=[{"role": "user", "content": "hi"}],
            max_tokens=MAX_TOKENS, stream=True,
        )  # fmt: skip
        async for _ in chunks:
            pass
    else:
        await client.chat.completions.create(
            model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS
        )


async def _ask(client: openai.AsyncOpenAI, stream: bool) -> str:
    return await outcome(_call(client, stream))


def worst_case_usd(f: Fleet, key: str) -> float:
    """One request's worst case as the sidecar holds it: read from the holds while one
    request waits at the (slowed) upstream."""
    f.up.reset(oa_1="delay@1.5")

    async def one() -> float:
        client = openai.AsyncOpenAI(api_key=key, base_url=f.first.base_url, max_retries=0)
        async with client:
            task = asyncio.create_task(_ask(client, False))
            held = 0.0
            for _ in range(100):
                await asyncio.sleep(0.02)
                held = max(held, sum(r for _, r in f.cap_rows().values()))
                if held > 0:
                    break
            assert await task == "ok"
            return held

    held = asyncio.run(one())
    f.settled()
    assert held > 0
    return held


async def _burst(f: Fleet, key: str, n: int) -> list[str]:
    clients = [
        openai.AsyncOpenAI(api_key=key, base_url=s.base_url, max_retries=0, timeout=30)
        for s in f.sidecars
    ]
    try:
        return await asyncio.gather(*(
            _ask(clients[i % len(clients)], stream=i % 2 == 1) for i in range(n)
        ))  # fmt: skip
    finally:
        for c in clients:
            await c.close()


def run_burst(f: Fleet) -> dict[str, Any]:
    key = str(f.first.create_key("default")["key"])
    worst = worst_case_usd(f, key)
    f.up.script["oa-1"] = "delay@0.3"  # the bills of worst_case_usd's call kept
    outcomes = asyncio.run(_burst(f, key, BURST))
    # then one at a time until the cap turns the key away for good
    tail = []
    for _ in range(int(CAP_USD / 0.02) + 2):
        tail.append(asyncio.run(_burst(f, key, 1))[0])
        if tail[-1] == "budget":
            break
    rows = f.settled()
    spent = _key_row(rows)[0]
    decided = sum(float(d["cost_usd"] or 0) for d in f.decisions())
    return {
        "worst_usd": worst,
        "outcomes": outcomes,
        "tail": tail,
        "spent_usd": spent,
        "billed_usd": f.billed_usd(),
        "decided_usd": decided,
        "upstream_calls": len(f.up.calls),
    }


def _key_row(rows: dict[str, tuple[float, float]]) -> tuple[float, float]:
    keys = [v for k, v in rows.items() if k.startswith("key:")]
    assert len(keys) == 1, rows
    return keys[0]


def _check(r: dict[str, Any]) -> None:
    odd = [o for o in r["outcomes"] + r["tail"] if o not in ("ok", "budget")]
    assert not odd, odd
    assert "budget" in r["outcomes"] and "ok" in r["outcomes"], r["outcomes"]
    assert r["tail"][-1] == "budget", r["tail"]
    # whole answers with their usage: the books are the upstream's bill, to the rounding
    assert r["spent_usd"] == pytest.approx(r["billed_usd"], abs=1e-6), r
    assert r["decided_usd"] == pytest.approx(r["billed_usd"], abs=1e-6), r
    overshoot = max(r["spent_usd"], r["billed_usd"]) - CAP_USD
    print(f"overshoot {overshoot:.4f} USD = {overshoot / r['worst_usd']:.2f} worst cases", r)
    assert overshoot <= r["worst_usd"] + 1e-9, r


CAPS = [{"scope": "key", "limit_usd": CAP_USD, "window": "total"}]


def test_two_workers_on_sqlite(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        _check(run_burst(f))


@pytest.mark.postgres
def test_three_replicas_on_postgres(tmp_path: Path) -> None:
    with fleet(tmp_path, "postgres", CAPS, replicas=3) as f:
        _check(run_burst(f))
