"""probe20 (outside tester, official SDK): an admin invalidation that lands while the answer it
removes is still being written to the store. The answer goes to the client as soon as it is
kept in memory; its store write runs behind. An operator who deletes or purges it in that window
(a purge right after a bad deploy, during traffic) got the entry back: the store's delete found no
row yet, the write landed after it, and the next request (a local miss) read it through from the
store and was served the answer the operator had removed, as were restarts and other replicas."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.pg import fresh_database, require_pg
from tests.sdk_clients import sdks
from tests.test_cache_store import on_store

CACHE_ON = "\n[cache]\nenabled = true\n"


def _hold_store_writes(sc: InProcess) -> threading.Event:
    """The store's cache writes wait until the returned event is set (a store under load: the
    write behind the answer is slower than the admin's call after it)."""
    store = sc.services.cache.store
    put = store.cache_put
    release = threading.Event()

    def slow_put(row: Any, *, keep: int | None = None) -> None:
        release.wait(10)  # bounded: a broken test never hangs the suite
        put(row, keep=keep)

    store.cache_put = slow_put  # type: ignore[method-assign]
    return release


@pytest.mark.parametrize("how", ["delete", "purge"])
def test_an_entry_invalidated_while_its_store_write_is_pending_stays_gone(
    tmp_path: Path, how: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            release = _hold_store_writes(sc)
            messages = [{"role": "user", "content": "Name three prime numbers."}]
            async with sdks(sc) as (_, gpt):
                first = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=messages
                )
                assert first.headers["x-arbiter-cache"] == "miss"
                (entry_id,) = sc.services.cache._entries  # the answer just kept
                if how == "delete":
                    call = sc.client.delete(f"/arbiter/cache/{entry_id}", headers=sc.admin)
                else:
                    call = sc.client.post("/arbiter/cache/purge", json={}, headers=sc.admin)
                admin = asyncio.ensure_future(call)
                await asyncio.sleep(0.05)  # the admin call has run as far as it goes alone
                release.set()
                r = await admin
                assert r.status_code == 200, r.text
                if how == "purge":
                    assert r.json()["purged"] == 1  # the operator is told it was there
                await sc.services.cache.drain()
                again = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=messages
                )
            # before: "hit", the removed answer read back from the store
            assert again.headers["x-arbiter-cache"] == "miss"
            await sc.services.cache.drain()
            assert sc.services.store.cache_get(entry_id, "default", 0.0) is not None  # rewritten
            listed = await sc.client.get("/arbiter/cache", headers=sc.admin)
            (row,) = listed.json()["data"]
            assert row["decision_id"] == again.headers["x-arbiter-decision-id"]

    asyncio.run(main())


@pytest.mark.parametrize("how", ["delete", "purge"])
def test_an_invalidation_on_another_replica_during_the_write_keeps_the_entry_gone(
    tmp_path: Path, how: str
) -> None:
    """Two replicas on one PostgreSQL: A answers (its store write slow), the operator's delete or
    purge reaches B before A's write lands. Before: the row landed after B's delete, and both
    replicas read it through on their next local miss: the removed answer served on A and B."""
    base = require_pg()
    messages = [{"role": "user", "content": "Name three prime numbers."}]

    async def ask(sc: InProcess) -> str:
        r = await sc.client.post(
            "/v1/chat/completions", json={"model": "sim-small", "messages": messages},
            headers=sc.auth,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        return r.headers["x-arbiter-cache"]

    async def main(url: str) -> None:
        async with (
            sidecar_in_process(tmp_path / "a", edit_config=on_store(url, CACHE_ON)) as a,
            sidecar_in_process(tmp_path / "b", edit_config=on_store(url, CACHE_ON)) as b,
        ):
            b.api_key = a.api_key  # one tenant, one key table
            release = _hold_store_writes(a)
            assert await ask(a) == "miss"
            (entry_id,) = a.services.cache._entries
            if how == "delete":
                r = await b.client.delete(f"/arbiter/cache/{entry_id}", headers=b.admin)
                assert r.status_code == 404  # B has no such entry yet: nor has the store
            else:
                r = await b.client.post("/arbiter/cache/purge", json={}, headers=b.admin)
                assert r.status_code == 200 and r.json()["purged"] == 0
            release.set()
            await a.services.cache.drain()
            await a.services.cache.sync()  # A applies B's invalidation to its memory
            # B's miss writes a fresh answer behind it: held, so A's read-through cannot find
            # that new row (a legitimate hit, not the removed one) before A is asked
            hold_b = _hold_store_writes(b)
            # before: "hit" on both, read through from the row written after the delete
            assert await ask(b) == "miss"
            assert await ask(a) == "miss"
            hold_b.set()

    with fresh_database(base) as url:
        asyncio.run(main(url))
