"""Two caps that bind one scope's same window (a cap written twice; a tenant's own cap beside
the every-tenant one) share one spend row in the store: each request must count in it once, the
stricter limit applying. Counted once per cap, a $7 cap beside a $500 one tripped at $3.50."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter.budget import Budgets
from arbiter.config import BudgetSettings, CapSettings
from arbiter.principal import Principal
from tests.inproc import InProcess, sidecar_in_process

CAPS = """
[[budgets.caps]]
scope = "global"
window = "month"
limit_usd = 500.0
[[budgets.caps]]
scope = "global"
window = "month"
limit_usd = 7.0
[[budgets.caps]]
scope = "tenant"
window = "day"
limit_usd = 20.0
[[budgets.caps]]
scope = "tenant"
name = "default"
window = "day"
limit_usd = 9.0
[[budgets.caps]]
scope = "tenant"
window = "total"
limit_usd = 100.0
"""


def test_caps_on_one_scope_and_window_bind_once_at_the_stricter_limit() -> None:
    caps = [CapSettings(*c) for c in (("global", 500.0), ("global", 7.0), ("tenant", 5.0, "day"),
            ("tenant", 1.0, "day", "other"), ("tenant", 3.0, "month", "other"))]  # fmt: skip
    b = Budgets(BudgetSettings(caps=caps), store=None, alert=lambda *a: None)  # type: ignore[arg-type]
    mid_month = 1796083200.0 + 9 * 86400  # 2026-12-10: its day and month windows start apart
    bound = b.caps_for(Principal(tenant="other", key_id="k2"), mid_month)
    assert [(c.scope, c.cap.window, c.limit_usd) for c in bound] == [
        ("global", "month", 7.0),
        ("tenant:other", "day", 1.0),
        ("tenant:other", "month", 3.0),  # another window of the scope: a row of its own
    ]
    acme = b.caps_for(Principal(tenant="acme"), mid_month)
    assert [(c.scope, c.limit_usd) for c in acme] == [("global", 7.0), ("tenant:acme", 5.0)]


def test_spend_counts_once_in_a_window_two_caps_bind(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        for i in range(3):
            chat = {"model": "sim-small", "messages": [{"role": "user", "content": f"hi {i}"}]}
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            assert r.status_code == 200, r.text
        await sc.services.learner.drain()  # its judge calls settle too
        r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
        rows = {(x["scope"], x["window_start"] > 0): x for x in r.json()["data"]}
        # every call is the default tenant's (judge_scope "tenant": its judge calls too): each
        # window holds the same spend, the global one included, and nothing stays reserved
        total = rows[("tenant:default", False)]["spent_usd"]
        assert total > 0
        assert rows[("tenant:default", True)]["spent_usd"] == total, rows
        assert rows[("global", True)]["spent_usd"] == total, rows
        assert all(x["reserved_usd"] == 0 for x in rows.values()), rows

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CAPS) as sc:
            await body(sc)

    asyncio.run(main())
