"""probe22b: streams the clients leave mid-way, at once, across three replicas of one
PostgreSQL database: each is recorded once as the client's leaving, charged between what it
relayed and its worst case, the caps' spend is the decisions' sum, and no replica is left
holding anything. The upstream stalls after its first events (the client reads one chunk and
closes), so every stream is cut by its client, none by the upstream or a timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from tests.probe19a_harness import PRICES
from tests.probe22b_rig import Fleet, fleet

CAPS = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
STREAMS = 12
MAX_TOKENS = 20


async def _leave_after_first_chunk(client: openai.AsyncOpenAI) -> str:
    chunks = await client.chat.completions.create(
        model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS,
        stream=True,
    )  # fmt: skip
    async for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await chunks.close()
    return "left"


async def _burst(f: Fleet, key: str) -> list[str]:
    clients = [
        openai.AsyncOpenAI(api_key=key, base_url=s.base_url, max_retries=0, timeout=30)
        for s in f.sidecars
    ]
    try:
        return list(await asyncio.gather(*(
            _leave_after_first_chunk(clients[i % len(clients)]) for i in range(STREAMS)
        )))  # fmt: skip
    finally:
        for c in clients:
            await c.close()


@pytest.mark.postgres
def test_streams_left_mid_way_on_three_replicas(tmp_path: Path) -> None:
    with fleet(tmp_path, "postgres", CAPS, replicas=3) as f:
        key = str(f.first.create_key("t")["key"])
        f.up.reset(oa_1="midstall@2")  # the role chunk, one word, then nothing
        assert asyncio.run(_burst(f, key)) == ["left"] * STREAMS
        for s in f.sidecars:  # every replica's view: nothing held
            rows = {r["scope"]: r for r in f.get("/arbiter/budgets", s)["data"]}
            assert "tenant:t" in rows
        spent = f.settled()["tenant:t"][0]
        decisions = f.decisions()
        assert len(decisions) == STREAMS, [d["status"] for d in decisions]
        assert {(d["status"], d.get("error")) for d in decisions} == {
            ("failed", "client_disconnected")
        }, decisions[0]
        assert sum(float(d["cost_usd"]) for d in decisions) == pytest.approx(spent, abs=1e-6)
        pin, pout = PRICES["oa-1"]
        prompt_only = 8 * pin / 1e6  # "hi" and its framing, at the least
        worst = (16 * pin + MAX_TOKENS * pout) / 1e6
        for d in decisions:
            assert prompt_only < float(d["cost_usd"]) <= worst, d
        print(f"{STREAMS} streams left: spent {spent:.4f}, worst cases {STREAMS * worst:.4f}")
