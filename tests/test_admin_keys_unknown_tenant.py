"""`GET /arbiter/admin/keys?tenant=T` for a tenant nothing knows (no key ever made for it, no
`[tenants.T]` section, no decision on record) answered an empty 200: an operator's typo
(`?tenant=serach-team`) read as "this tenant has no keys". It is a 404 naming the tenant; a
tenant the config names but no key yet serves, or one whose keys are all revoked, still lists
(empty, or its revoked keys)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process


def test_an_unknown_tenant_is_a_404_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        def edit(text: str) -> str:
            return text + "\n[tenants.configured-only]\nquality_target = 0.9\n"

        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            r = await sc.client.get("/arbiter/admin/keys?tenant=nobody-here", headers=sc.admin)
            assert r.status_code == 404, r.text
            err = r.json()["error"]
            assert err["param"] == "tenant" and "nobody-here" in err["message"], err
            # a tenant with a key: its keys
            r = await sc.client.get("/arbiter/admin/keys?tenant=default", headers=sc.admin)
            assert r.status_code == 200 and len(r.json()["data"]) == 1, r.text
            # named by the config, no key yet: an empty list, rightly
            r = await sc.client.get("/arbiter/admin/keys?tenant=configured-only", headers=sc.admin)
            assert r.status_code == 200 and r.json()["data"] == [], r.text
            # a tenant whose only key was revoked still lists it (revoked keys stay listed)
            made = await sc.client.post(
                "/arbiter/admin/keys", json={"tenant": "gone"}, headers=sc.admin
            )
            assert made.status_code == 201, made.text
            await sc.client.delete(f"/arbiter/admin/keys/{made.json()['id']}", headers=sc.admin)
            r = await sc.client.get("/arbiter/admin/keys?tenant=gone", headers=sc.admin)
            assert r.status_code == 200 and len(r.json()["data"]) == 1, r.text

    asyncio.run(main())
