"""ops26: a budget cap whose outage allowance is spent (the PostgreSQL store refusing connections,
batched durability) leaves `/readyz` ready, 200, and its body says so: `budgets` counts the caps
refusing requests while the store is down, and is gone once it is back. Readiness is the
process's; the cap is a tenant's, and every replica spends its own allowance (probes.py says
why unready pods would help no one). Before, the body said nothing of it: a 200 `ready` while
every capped request got a 503."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg, set_connections
from tests.waiting import until_async

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
CAPS = """
[budgets]
outage_allowance = 0.0

[[budgets.caps]]
scope = "tenant"
limit_usd = 100.0
window = "total"
"""


@pytest.mark.timeout(120)
def test_a_spent_outage_allowance_is_said_by_readyz_which_stays_ready(tmp_path: Path) -> None:
    with fresh_database(require_pg()) as url:
        db = urlsplit(url).path.lstrip("/")

        async def main() -> None:
            async with sidecar_in_process(
                tmp_path, store_url=url, edit_config=lambda t: t + CAPS
            ) as sc:
                assert (await sc.client.post("/v1/chat/completions", json=CHAT,
                                             headers=sc.auth)).status_code == 200  # fmt: skip
                r = await sc.client.get("/readyz")
                assert r.status_code == 200 and "budgets" not in r.json(), r.text
                await asyncio.to_thread(set_connections, db, False)
                try:
                    r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"] == "budget_store_unavailable"
                    r = await sc.client.get("/readyz")
                    assert r.status_code == 200, r.text
                    assert r.json()["status"] == "ready"
                    assert r.json()["budgets"] == {"store_down": True, "outage_allowance_spent": 1}
                finally:
                    await asyncio.to_thread(set_connections, db, True)

                async def back() -> bool:
                    return "budgets" not in (await sc.client.get("/readyz")).json()

                await until_async(back, "the budget store seen back", timeout_s=30)
                r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
                assert r.status_code == 200, r.text

        asyncio.run(main())
