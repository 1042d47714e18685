"""probe22b: a key's cap and its tenant's cap both set, two keys of the tenant bursting at once
on `server.workers = 2`: each cap's spend within one worst case of its limit, the tenant's the
sum of its keys', both the upstream's bill. And a request whose worst case alone passes what
is left of a cap: a 429 in the caller's shape (openai and anthropic SDKs), before any upstream
call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.probe22b_rig import Fleet, fleet, outcome

KEY_CAP = 0.3
TENANT_CAP = 0.45
CAPS = [
    {"scope": "key", "limit_usd": KEY_CAP, "window": "total"},
    {"scope": "tenant", "limit_usd": TENANT_CAP, "window": "total"},
]
# oa-1 at $1000/$2000 per 1M tokens: "hi" with 20 output tokens holds ~$0.049, billed $0.025
WORST_USD = 0.049


async def _ask(client: openai.AsyncOpenAI, i: int) -> str:
    async def call() -> None:
        answer = await client.chat.completions.create(
            model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=20,
            stream=i % 2 == 1,
        )  # fmt: skip
        if isinstance(answer, openai.AsyncStream):  # read to its end, or it is a cut stream
            async for _ in answer:
                pass

    return await outcome(call())


async def _two_keys(f: Fleet, keys: list[str], each: int) -> list[str]:
    clients = [
        openai.AsyncOpenAI(api_key=k, base_url=f.first.base_url, max_retries=0) for k in keys
    ]
    try:
        return await asyncio.gather(*(
            _ask(clients[i % 2], i) for i in range(each * 2)
        ))  # fmt: skip
    finally:
        for c in clients:
            await c.close()


def test_key_and_tenant_caps_under_two_keys_burst(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        keys = [str(f.first.create_key("t")["key"]) for _ in range(2)]
        f.up.reset(oa_1="delay@0.3")
        outcomes = asyncio.run(_two_keys(f, keys, 20))
        for _ in range(30):  # then small bursts on both keys until both are turned away
            more = asyncio.run(_two_keys(f, keys, 2))
            outcomes += more
            if more == ["budget"] * 4:
                break
        odd = [o for o in outcomes if o not in ("ok", "budget")]
        assert not odd, odd
        rows = f.settled()
        tenant = rows["tenant:t"][0]
        per_key = [v[0] for k, v in rows.items() if k.startswith("key:")]
        assert len(per_key) == 2, rows
        billed = f.billed_usd()
        print(f"tenant {tenant:.4f} keys {per_key} billed {billed:.4f}", outcomes.count("ok"))
        assert tenant == pytest.approx(sum(per_key), abs=1e-6), rows
        assert tenant == pytest.approx(billed, abs=1e-6), rows
        assert tenant <= TENANT_CAP + WORST_USD, rows
        assert all(k <= KEY_CAP + WORST_USD for k in per_key), rows
        # the tenant's cap bound (two keys of $0.3 each could spend $0.6)
        assert "budget" in outcomes and tenant > KEY_CAP, rows


def test_worst_case_alone_past_what_is_left_is_refused_before_any_call(tmp_path: Path) -> None:
    """$0.3 key cap, $0.025 spent: 200 output tokens hold ~$0.41, past the $0.275 left."""
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        key = str(f.first.create_key("t")["key"])
        gpt = openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0)
        claude = anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0)
        with gpt, claude:
            gpt.chat.completions.create(
                model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=20
            )
            calls = len(f.up.calls)
            for stream in (False, True):
                with pytest.raises(openai.RateLimitError) as oa:
                    gpt.chat.completions.create(
                        model="oa-1", messages=[{"role": "user", "content": "hi"}],
                        max_tokens=200, stream=stream,
                    )  # fmt: skip
                body: Any = oa.value.body
                assert body["code"] == "budget_exceeded", body
                assert oa.value.response.headers["x-should-retry"] == "false"
                with pytest.raises(anthropic.RateLimitError) as an:
                    claude.messages.create(
                        model="an-1", max_tokens=200, stream=stream,
                        messages=[{"role": "user", "content": "hi"}],
                    )  # fmt: skip
                err: Any = an.value.body
                assert err["type"] == "error" and err["error"]["type"] == "rate_limit_error", err
            assert len(f.up.calls) == calls, f.up.calls[calls:]
            rows = f.settled()
            assert all(r[0] == pytest.approx(0.025, abs=1e-6) for r in rows.values()), rows
