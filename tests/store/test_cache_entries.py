"""Response-cache entries in the store, on every backend: put/get within a tenant and TTL, hit
counts, the LRU bound, invalidations, and two ResponseCache "replicas" on one store (the second
adopts the first's entries, embeddings included, and its invalidations)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson

from arbiter.cache.answer import Entry
from arbiter.cache.entry_rows import to_row as _row
from arbiter.cache.service import ResponseCache
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart
from arbiter.config import CacheSettings
from arbiter.principal import Principal
from arbiter.store import Store
from arbiter.surfaces.openai_chat import parse_chat_request
from tests.test_cache_semantic_hook import StandInMatcher

ANSWER = CanonicalResponse("r", "m", (TextPart("Paris."),), "end_turn", CanonicalUsage(5, 2))


def entry(entry_id: str, tenant: str = "t1", *, created: float, ttl: float = 100.0) -> Entry:
    return Entry(
        entry_id, tenant, entry_id, "ctx", "small", "qa", ANSWER, 0.01, f"dec_{entry_id}",
        created, created + ttl, 0, "What is the capital?", b"\x00\x00\x80?" * 2,
    )  # fmt: skip


def test_entries_put_get_touch_bound_and_invalidate(store: Store) -> None:
    now = time.time()
    for i, eid in enumerate(("a", "b", "c")):
        store.cache_put(_row(entry(eid, created=now + i)))
    store.cache_put(_row(entry("x", "t2", created=now + 3)))
    row = store.cache_get("a", "t1", now + 10)
    assert row is not None and row[0] == "a" and bytes(row[-1]) == b"\x00\x00\x80?" * 2
    assert store.cache_get("a", "t2", now) is None  # another tenant's id: nothing
    assert store.cache_get("a", "t1", now + 1000) is None  # expired
    store.cache_touch({"a": (3, now + 50)})
    listed = {r["id"]: r for r in store.cache_list(tenant="t1", limit=10)}
    assert listed["a"]["hits"] == 3 and listed["a"]["used_ts"] == now + 50
    assert [r["id"] for r in store.cache_list(tenant=None, limit=2)] == ["x", "c"]
    assert [r["id"] for r in store.cache_list(tenant=None, limit=5, after_id="c")] == ["b", "a"]
    assert store.cache_exists("c") and store.cache_exists("x") and not store.cache_exists("z")
    # the bound keeps the most recently used: "a" (touched) and then the newest
    store.cache_put(_row(entry("d", created=now + 4)), keep=3)
    assert {r["id"] for r in store.cache_list(tenant=None, limit=10)} == {"a", "d", "x"}
    assert store.cache_delete("a", "t2", now) is False  # not that tenant's
    assert store.cache_delete("a", None, now + 5) is True
    assert store.cache_delete_source("dec_d", now + 6) == 1
    assert store.cache_purge(tenant="t2", model=None, ts=now + 7) == 1
    kinds = [(e, t) for _, _, e, t, _ in store.cache_invalidations(now)]
    assert kinds == [("a", None), ("a", None), ("d", None), (None, "t2")]
    store.cache_put(_row(entry("old", created=now - 500, ttl=10)))
    store.cache_put(_row(entry("new", created=now)))
    assert store.cache_prune(now=now, keep=10, invalidations_before=now + 6) == 1
    assert [r["id"] for r in store.cache_list(tenant=None, limit=10)] == ["new"]
    assert len(store.cache_invalidations(0.0)) == 2
    assert store.cache_stats(tenant=None)["hits"] == 0


def test_replicas_adopt_each_others_entries_and_invalidations(
    open_: Callable[[], Store],
) -> None:
    async def main() -> None:
        settings = CacheSettings(enabled=True, semantic=True)
        one, two = StandInMatcher(), StandInMatcher()
        a = ResponseCache(settings, {}, open_(), one)
        b = ResponseCache(settings, {}, open_(), two)
        await a.start()
        await b.start()
        try:
            me = Principal("t1")
            body = {"model": "auto", "messages": [{"role": "user", "content": "Capital?"}]}
            req = parse_chat_request(orjson.dumps(body))
            look = await a.lookup(req, me)
            assert look.status == "miss" and look.vector is not None
            a.remember(look, model="small", task="qa", answer=ANSWER, cost_usd=0.01,
                       decision_id="dec_1")  # fmt: skip
            await a.drain()
            await b.sync()
            assert [e[2] for e in two.added] == [look.keys.exact]  # type: ignore[union-attr]
            assert (await b.lookup(req, me)).status == "hit"
            assert (await b.lookup(req, Principal("t2"))).status == "miss"
            assert await a.invalidate(look.keys.exact)  # type: ignore[union-attr]
            await b.sync()
            assert b.size == 0 and look.keys.exact in two.removed  # type: ignore[union-attr]
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(main())
