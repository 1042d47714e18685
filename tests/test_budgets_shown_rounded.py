"""/arbiter/budgets shows money to 1e-9 USD: a window whose spend is a sum of floats
(0.1 + 0.2 = 0.30000000000000004) reads 0.3, and its released reservation exactly 0, not
float noise (it showed a reserved_usd of 1.08e-19 after cut completion streams)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process

W = [("tenant:default", 0.0)]


def test_budgets_show_spend_and_reservations_without_float_residue(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            store = sc.services.store
            for usd in (0.1, 0.2):
                assert store.reserve_budget([("tenant:default", 0.0, 5.0)], usd) is None
            for usd in (0.1, 0.2):
                store.settle_budget(W, usd, usd)  # spent: 0.30000000000000004
            assert store.budget_usage("tenant:default")[0]["spent_usd"] != 0.3
            for key in (sc.admin_key, sc.api_key):
                r = await sc.client.get(
                    "/arbiter/budgets", headers={"authorization": f"Bearer {key}"}
                )
                assert r.status_code == 200, r.text
                (row,) = [x for x in r.json()["data"] if x["scope"] == "tenant:default"]
                assert row["spent_usd"] == 0.3, row
                assert row["reserved_usd"] == 0.0, row
                assert row.get("reserved_expired_usd", 0.0) == 0.0, row

    asyncio.run(main())
