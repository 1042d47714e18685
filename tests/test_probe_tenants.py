"""Outside probes of tenant isolation on the read APIs the cache added to: a tenant's key must not
read another tenant's cache activity in /arbiter/stats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter.auth import create_key
from tests.inproc import InProcess, sidecar_in_process

CACHE_ON = "\n[cache]\nenabled = true\n"
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of Peru?"}]}


def test_a_tenants_stats_show_none_of_another_tenants_cache_activity(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        for _ in range(3):  # the default tenant: a miss, then two hits
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200, r.text
            await sc.services.cache.drain()
        assert r.headers["x-arbiter-cache"] == "hit"
        other = create_key(sc.services.store, "other").key
        r = await sc.client.get("/arbiter/stats", headers={"authorization": f"Bearer {other}"})
        assert r.status_code == 200, r.text
        cache = r.json()["cache"]
        assert cache["saved_usd"] == 0 and cache.get("hits", 0) == 0
        # nothing of this replica's (every tenant's) counters reaches a tenant's key
        assert "this_replica" not in cache, cache
        admin = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()["cache"]
        assert admin["this_replica"]["hits"] == 2

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            await body(sc)

    asyncio.run(main())
