"""A tenant's /arbiter/stats shows no count that spans every tenant: the code sandbox's runs
and queue and the recorder's backlog and drops are other tenants' volume too. A tenant's key
is shown whether the sandbox runs its code answers and whether the store is healthy; the admin
sees every count."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process


def test_a_tenant_sees_no_deployment_wide_count(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path, tenant="team-a") as sc:
            sc.services.executor.counts["runs"] += 5  # as if other tenants' code answers ran
            own = (await sc.client.get("/arbiter/stats", headers=sc.auth)).json()
            admin = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
        assert set(own["sandbox"]) == {"available", "mechanism", "language", "reason"}, own
        assert own["sandbox"]["available"] == admin["sandbox"]["available"]
        assert own["store"] == {"healthy": True}, own["store"]
        assert admin["sandbox"]["counts"]["runs"] == 5
        assert {"waiting", "concurrency", "queue_limit"} <= set(admin["sandbox"])
        assert set(admin["store"]) == {"backlog", "dropped", "healthy"}

    asyncio.run(go())
