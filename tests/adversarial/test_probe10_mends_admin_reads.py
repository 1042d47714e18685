"""`GET /arbiter/policy?tenant=X` showed posteriors without what routing for X compares them
against (X's quality target and baseline, from its [tenants.X] overrides); each row now carries
them and the bar they set. `GET /arbiter/budgets?tenant=X` left out the global and shadow caps
that bind X's requests too: the admin now sees them, marked `shared`; a client key is told why
it does not (they total every tenant's spend)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.adversarial.test_probe10_read_scope import read, second_tenant_after_traffic
from tests.inproc import sidecar_in_process

EXTRA = """
[tenants.team-b]
quality_target = 0.5
baseline = "sim-medium"

[[budgets.caps]]
scope = "global"
window = "day"
limit_usd = 50.0

[[budgets.caps]]
scope = "tenant"
name = "*"
window = "day"
limit_usd = 5.0
"""
CHAT = {
    "model": "auto",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}


def test_admin_reads_show_what_binds_and_routes_the_named_tenant(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + EXTRA) as sc:
            other = await second_tenant_after_traffic(sc, CHAT)

            rows = (await read(sc, "/arbiter/policy?tenant=team-b", sc.admin_key))["data"]
            assert rows
            medium = sc.services.registry["sim-medium"].priors
            default_prior = sc.services.settings.routing.default_prior
            for row in rows:
                assert (row["quality_target"], row["baseline"]) == (0.5, "sim-medium"), row
                # no evidence for sim-medium yet: its posterior mean is its prior
                bar = 0.5 * medium.get(row["task"], default_prior)
                assert abs(row["quality_bar"] - bar) < 1e-3, row
            mine = (await read(sc, "/arbiter/policy", sc.api_key))["data"]
            assert mine and {(r["quality_target"], r["baseline"]) for r in mine} == {
                (0.98, "sim-premium")
            }

            b = (await read(sc, "/arbiter/budgets?tenant=team-b", sc.admin_key))["data"]
            scopes = {r["scope"]: r["shared"] for r in b}
            assert scopes == {"tenant:team-b": False, "global": True}, scopes
            theirs = await read(sc, "/arbiter/budgets", other.key)
            assert {r["scope"] for r in theirs["data"]} == {"tenant:team-b"}
            assert "global" in theirs["shared_caps"]

    asyncio.run(main())
