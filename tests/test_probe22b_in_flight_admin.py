"""probe22b: the operator acts while a key's requests wait at the upstream (two workers on one
SQLite store): the key revoked, or its tenant's cap lowered by a reload. The requests already
admitted finish and are charged what the upstream billed, nothing stays reserved, and what
comes after follows the new state (401 for the revoked key; 429 under the lowered cap)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.probe22b_rig import ADMIN, Fleet, fleet

CAPS = [{"scope": "tenant", "limit_usd": 1.0, "window": "total"}]
IN_FLIGHT = 6


async def _ask(base_url: str, key: str, i: int) -> str:
    client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=30)
    async with client:
        try:
            answer = await client.chat.completions.create(
                model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=20,
                stream=i % 2 == 1,
            )  # fmt: skip
            if isinstance(answer, openai.AsyncStream):
                # read to its end: a stream left unread is a client that left once its headers
                # came, charged as a cut (cut_stream_cost.py), not the upstream's bill
                async for _ in answer:
                    pass
            return "ok"
        except openai.APIStatusError as err:
            body: Any = err.body
            return f"{err.status_code} {body.get('code') if isinstance(body, dict) else body}"


async def _while_in_flight(f: Fleet, key: str, act: Any) -> list[str]:
    """IN_FLIGHT requests held 1 s at the upstream; `act()` once all are there."""
    tasks = [asyncio.create_task(_ask(f.first.base_url, key, i)) for i in range(IN_FLIGHT)]
    deadline = time.monotonic() + 10
    while len(f.up.calls) < IN_FLIGHT:
        assert time.monotonic() < deadline, f.up.calls
        await asyncio.sleep(0.02)
    await asyncio.to_thread(act)
    return list(await asyncio.gather(*tasks))


async def _six(f: Fleet, key: str) -> list[str]:
    """Six requests at once (fresh connections: both workers take some)."""
    return list(await asyncio.gather(*(_ask(f.first.base_url, key, i) for i in range(6))))


def _books_balance(f: Fleet) -> float:
    spent = f.settled()["tenant:t"][0]
    assert spent == pytest.approx(f.billed_usd(), abs=1e-6)
    decided = sum(float(d["cost_usd"] or 0) for d in f.decisions())
    assert decided == pytest.approx(spent, abs=1e-6)
    return spent


def test_key_revoked_with_requests_in_flight(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        made = f.first.create_key("t")
        key, key_id = str(made["key"]), str(made["id"])
        f.up.reset(oa_1="delay@1.0")

        def revoke() -> None:
            r = httpx.delete(f"{f.first.root_url}/arbiter/admin/keys/{key_id}", headers=ADMIN)
            assert r.status_code == 200, r.text

        outcomes = asyncio.run(_while_in_flight(f, key, revoke))
        assert outcomes == ["ok"] * IN_FLIGHT, outcomes
        spent = _books_balance(f)
        assert spent == pytest.approx(IN_FLIGHT * 0.025, abs=1e-6)
        time.sleep(1.2)  # auth.key_cache_ttl_s: the other worker's cached lookup lapses
        after = asyncio.run(_six(f, key))
        assert all(o.startswith("401") for o in after), after
        assert len(f.up.calls) == IN_FLIGHT


def test_cap_lowered_by_reload_with_requests_in_flight(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        key = str(f.first.create_key("t")["key"])
        f.up.reset(oa_1="delay@1.0")
        path = f.first.config_path

        def lower() -> None:
            f.first.edit_config(lambda d: d["budgets"]["caps"][0].update(limit_usd=0.1))
            r = httpx.post(f"{f.first.root_url}/arbiter/admin/reload", headers=ADMIN, timeout=30)
            assert r.status_code == 200, r.text

        outcomes = asyncio.run(_while_in_flight(f, key, lower))
        assert outcomes == ["ok"] * IN_FLIGHT, outcomes
        assert "0.1" in path.read_text()
        spent = _books_balance(f)  # admitted under $1.0: all six charged, past the new $0.1
        assert spent == pytest.approx(IN_FLIGHT * 0.025, abs=1e-6)
        f.up.reset(oa_1="ok")
        after = asyncio.run(_six(f, key))
        assert after == ["429 budget_exceeded"] * 6, after  # on both workers
        assert f.up.calls == []
