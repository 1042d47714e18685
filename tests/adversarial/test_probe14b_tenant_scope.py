"""Outside probe (probes14b): a tenant's key asking a read for another tenant (`?tenant=other`)
was answered with its own tenant's data, silently, as if it were the other's: a script summing
tenant B's spend with A's key got A's. Every read that takes `tenant` now answers a 403 in the
API's error shape for another tenant, and 200 for its own name or none; the admin still reads
any tenant."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import TENANT_READS, InProcess, sidecar_in_process


def test_a_tenant_key_naming_another_tenant_is_a_403_on_every_read(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            headers=sc.auth,
        )
        assert r.status_code == 200, r.text
        decision = r.headers["x-arbiter-decision-id"]
        paths = [*TENANT_READS, f"/arbiter/decisions/{decision}"]
        for path in paths:
            for params in ({}, {"tenant": "alpha"}):
                r = await sc.client.get(path, params=params, headers=sc.auth)
                assert r.status_code == 200, (path, params, r.text)
            for other in ("beta", "ALPHA", "alpha "):
                r = await sc.client.get(path, params={"tenant": other}, headers=sc.auth)
                assert r.status_code == 403, (path, other, r.text)
                err = r.json()["error"]
                assert err["param"] == "tenant" and err["type"] == "permission_error", err
                assert err["code"] == "tenant_not_allowed" and "alpha" in err["message"]
            r = await sc.client.get(path, params={"tenant": "beta"}, headers=sc.admin)
            assert r.status_code == (404 if "/decisions/" in path else 200), (path, r.text)
        r = await sc.client.get(f"/arbiter/decisions/{decision}", headers=sc.admin)
        assert r.status_code == 200 and r.json()["tenant"] == "alpha"

    async def main() -> None:
        async with sidecar_in_process(tmp_path, tenant="alpha") as sc:
            await body(sc)

    asyncio.run(main())
