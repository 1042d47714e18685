"""Outside probe (tenth session): `GET /arbiter/budgets` and `GET /arbiter/policy` with the admin
key ignored `?tenant=` (every other `/arbiter/*` read scopes an admin to it), so an operator
asking for one tenant's spend or learned policy got every tenant's. Both now answer the named
tenant's rows (budgets: its tenant caps and its keys' caps); a client key stays confined to its
own tenant whatever `tenant` it passes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arbiter.auth import NewKey, create_key
from tests.inproc import InProcess, sidecar_in_process

CAPS = "".join(
    f'\n[[budgets.caps]]\nscope = "{scope}"\nname = "*"\nwindow = "day"\nlimit_usd = 5.0\n'
    for scope in ("tenant", "key")
)
CHAT = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}


async def read(sc: InProcess, path: str, key: str) -> dict[str, Any]:
    r = await sc.client.get(path, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def rows(sc: InProcess, path: str, key: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await read(sc, path, key))["data"]
    return data


async def second_tenant_after_traffic(sc: InProcess, chat: dict[str, Any]) -> NewKey:
    """A key of tenant team-b, once the default tenant and team-b have each sent `chat`."""
    other = create_key(sc.services.store, "team-b")
    for key in (sc.api_key, other.key):
        r = await sc.client.post(
            "/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"}
        )
        assert r.status_code == 200, r.text
    await sc.services.learner.drain(10.0)
    return other


def test_an_admin_read_of_budgets_and_policy_is_scoped_by_tenant(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CAPS) as sc:
            other = await second_tenant_after_traffic(sc, CHAT)

            every = {r["scope"] for r in await rows(sc, "/arbiter/budgets", sc.admin_key)}
            assert {"tenant:default", "tenant:team-b", f"key:{other.id}"} <= every, every
            b = {r["scope"] for r in await rows(sc, "/arbiter/budgets?tenant=team-b", sc.admin_key)}
            assert b == {"tenant:team-b", f"key:{other.id}"}, b
            assert await rows(sc, "/arbiter/budgets?tenant=nobody", sc.admin_key) == []
            # a client key: its own tenant's and key's rows; naming another tenant is a 403
            # (probes14b: it was read as its own, silently)
            mine = {r["scope"] for r in await rows(sc, "/arbiter/budgets?tenant=team-b", other.key)}
            assert mine == b, mine
            r = await sc.client.get(
                "/arbiter/budgets?tenant=default", headers={"authorization": f"Bearer {other.key}"}
            )
            assert r.status_code == 403 and r.json()["error"]["param"] == "tenant", r.text

            tenants = {r["tenant"] for r in await rows(sc, "/arbiter/policy", sc.admin_key)}
            assert tenants == {"default", "team-b"}, tenants
            scoped = await rows(sc, "/arbiter/policy?tenant=team-b", sc.admin_key)
            assert scoped and {r["tenant"] for r in scoped} == {"team-b"}, scoped
            assert await rows(sc, "/arbiter/policy?tenant=nobody", sc.admin_key) == []
            theirs = await rows(sc, "/arbiter/policy?tenant=default", sc.api_key)
            assert {r["tenant"] for r in theirs} == {"default"}, theirs
            r = await sc.client.get("/arbiter/policy?tenant=team-b", headers=sc.auth)
            assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_not_allowed"

    asyncio.run(main())
