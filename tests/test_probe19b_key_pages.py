"""probe19b: `GET /arbiter/admin/keys` answered every key at once, built on the event loop: with
100,000 keys (a key per user) a 17 MB answer and 0.7 s in which the sidecar served nothing. It
pages now, as the other lists do (`limit` 1-1000, default 1000; `after=<last_id>` while
`has_more`), in creation order, off the loop; a forged cursor is a 400. Both stores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter.store import NoSuchCursor
from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _bulk_keys(sc: InProcess, n: int) -> None:
    """`n` key rows of tenants t0..t2, as the store would hold them (only their hash is secret)."""
    store = sc.services.store
    now = time.time()
    for i in range(n):
        store.create_key(key_id=f"{i:012x}", tenant=f"t{i % 3}", name=f"user {i}",
                         secret_hash="0" * 64, created_ts=now + i, expires_ts=None)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_key_list_pages_in_creation_order(tmp_path: Path, backend: str) -> None:
    async def main() -> None:
        with empty_store_url(backend, tmp_path / "keys.db") as url:
            async with sidecar_in_process(tmp_path, store_url=url) as sc:
                await asyncio.to_thread(_bulk_keys, sc, 2_500)
                seen: list[str] = []
                pages, after = 0, None
                while True:
                    q = "" if after is None else f"?after={after}"
                    r = await sc.client.get(f"/arbiter/admin/keys{q}", headers=sc.admin)
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert len(body["data"]) <= 1000
                    seen += [k["id"] for k in body["data"]]
                    pages += 1
                    if not body["has_more"]:
                        break
                    after = body["last_id"]
                # the fixture's own key first, then the bulk in creation order, each once
                assert pages == 3 and len(seen) == 2_501 and len(set(seen)) == 2_501
                assert seen[1:] == [f"{i:012x}" for i in range(2_500)]

                r = await sc.client.get(
                    "/arbiter/admin/keys?tenant=t1&limit=10&after=000000000004", headers=sc.admin
                )
                ids = [k["id"] for k in r.json()["data"]]
                assert ids == [f"{i:012x}" for i in range(7, 37, 3)], ids
                assert r.json()["has_more"] is True and r.json()["last_id"] == ids[-1]
                # a cursor naming no key, or a key of another tenant, is the caller's 400
                for q in ("after=ffffffffffff", "tenant=t1&after=000000000003", "limit=1001",
                          "limit=0", "offset=5"):  # fmt: skip
                    r = await sc.client.get(f"/arbiter/admin/keys?{q}", headers=sc.admin)
                    assert r.status_code == 400, (q, r.text)
                    assert r.json()["error"]["param"] in ("after", "limit", "offset"), r.text

    asyncio.run(main())


def test_the_store_refuses_a_cursor_naming_no_key(tmp_path: Path) -> None:
    from arbiter.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        store.migrate()
        store.create_key(key_id="a" * 12, tenant="t", name="", secret_hash="0" * 64,
                         created_ts=1.0, expires_ts=None)  # fmt: skip
        assert [k["id"] for k in store.list_keys()] == ["a" * 12]  # unpaged: the CLI's list
        assert store.list_keys(limit=5, after_id="a" * 12) == []
        with pytest.raises(NoSuchCursor):
            store.list_keys(after_id="b" * 12)
    finally:
        store.close()
