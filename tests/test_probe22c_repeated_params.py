"""probe22c: a query parameter given twice on Arbiter's reads is the caller's 400 naming it.

Read last-wins, `/arbiter/decisions?tenant=beta&tenant=alpha` with alpha's key answered alpha's
decisions as the answer to a script that asked for beta's (the first value; read_scope's rule
is that another tenant's name is a 403, never read as its own), and `?limit=5000&limit=1`
passed the range check that `?limit=1&limit=5000` failed. A JSON body naming a key twice is
already a 400 on these endpoints (never read last-wins); the query is now read alike. One value
each (the controls) still answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.auth import create_key
from tests.inproc import TENANT_READS, InProcess, sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is 2+2?"}]}

ADMIN_READS = [
    "/arbiter/admin/keys?limit=5&limit=1",
    "/arbiter/admin/models?limit=1&limit=2",
    "/arbiter/cache?tenant=alpha&tenant=default",
    "/arbiter/policy?after=x&after=y",
    "/arbiter/decisions?before=1&before=2",
    "/arbiter/timeseries?bucket_s=60&bucket_s=120",
]


def _refused(r: object, name: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text)  # type: ignore[attr-defined]
    err = r.json()["error"]  # type: ignore[attr-defined]
    assert err["param"] == name and ("twice" in err["message"] or "both" in err["message"]), err


@pytest.mark.timeout(120)
def test_a_repeated_query_parameter_is_a_400_naming_it(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code == 200, r.text
        alpha = {"authorization": f"Bearer {create_key(sc.services.store, 'alpha').key}"}
        for path in TENANT_READS:  # read with a client key of tenant `alpha`
            r = await sc.client.get(f"{path}?tenant=default&tenant=alpha", headers=alpha)
            _refused(r, "tenant")
            r = await sc.client.get(f"{path}?tenant=alpha", headers=alpha)  # control
            assert r.status_code == 200, (path, r.text)
        for query in ("limit=5000&limit=1", "limit=1&limit=1"):
            _refused(await sc.client.get(f"/arbiter/decisions?{query}", headers=alpha), "limit")
        r = await sc.client.get("/arbiter/decisions?limit=1", headers=alpha)  # control
        assert r.status_code == 200 and len(r.json()["data"]) == 0
        for path in ADMIN_READS:
            name = path.split("?")[1].split("=")[0]
            _refused(await sc.client.get(path, headers=sc.admin), name)
        # the admin's own pick of one tenant, asked twice: neither read
        r = await sc.client.get("/arbiter/stats?tenant=alpha&tenant=default", headers=sc.admin)
        _refused(r, "tenant")
        r = await sc.client.get("/arbiter/stats?tenant=default", headers=sc.admin)  # control
        assert r.status_code == 200 and r.json()["requests"] == 1

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())


@pytest.mark.timeout(120)
def test_the_feed_takes_after_or_before_not_both(tmp_path: Path) -> None:
    """`after` (a cursor) and `before` (a time) both given: the cursor won and `before` went
    unread (a page of rows newer than the `before` asked for). Now a 400 naming `before`;
    each alone still pages (controls)."""

    async def body(sc: InProcess) -> None:
        for _ in range(2):
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200, r.text
        await asyncio.to_thread(sc.services.recorder.flush, 2.0)
        feed = (await sc.client.get("/arbiter/decisions", headers=sc.auth)).json()["data"]
        newest, oldest = feed[0], feed[-1]
        q = f"after={newest['id']}&before={oldest['ts'] - 1}"
        _refused(await sc.client.get(f"/arbiter/decisions?{q}", headers=sc.auth), "before")
        r = await sc.client.get(f"/arbiter/decisions?after={newest['id']}", headers=sc.auth)
        assert [row["id"] for row in r.json()["data"]] == [oldest["id"]]
        r = await sc.client.get(f"/arbiter/decisions?before={oldest['ts'] - 1}", headers=sc.auth)
        assert r.json()["data"] == []

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
