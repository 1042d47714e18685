"""Outside probe (eighteenth session) of the response cache on a live sidecar (`arbiter serve`,
real sockets) in front of a live sim: an answer Arbiter's own graders found wrong is not served
from the cache.

A client's `/v1/feedback` below 0.5 on the decision that wrote an entry removes the entry; a grade
as damning from a check against what the caller supplied (a reference answer that does not match,
code that fails the caller's tests) did not: routing learned that the answer was wrong while the
cache kept handing it out, to every identical request, for the entry's whole TTL. Graded below 0.5
so, the entry now goes as feedback's does (everywhere: the store records the invalidation for the
other replicas). The control: an answer nothing graded low stays."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter.cache.service import ResponseCache
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart
from arbiter.config import CacheSettings
from arbiter.offline.demo import ADMIN_KEY_ENV
from arbiter.principal import Principal
from arbiter.records import GradeRecord, GraderKind
from arbiter.store import open_store
from arbiter.surfaces.openai_chat import parse_chat_request
from tests.conftest import ADMIN_KEY, Sidecar, open_sidecar
from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg
from tests.test_cache import CACHE_ON, chat, decision
from tests.test_cache_store import on_store


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, Any]) -> None:
        doc["cache"] = {"enabled": True}
        doc["auth"] = {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV}  # the cache admin API
        doc["routing"]["judge_sample_rate"] = 0.0  # only the reference grades here

    yield from open_sidecar(tmp_path_factory.mktemp("probe18c-graded"), sim_url, edit)


def _ask(sc: Sidecar, text: str, **headers: str) -> httpx.Response:
    r = httpx.post(
        f"{sc.base_url}/chat/completions",
        # a limit of its own: an answer the sim cuts short is still stored
        json={
            "model": "sim-small",
            "max_tokens": 300,
            "messages": [{"role": "user", "content": text}],
        },
        headers={"authorization": f"Bearer {ADMIN_KEY}", **headers},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r


def _grade(sc: Sidecar, decision_id: str) -> float:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = sc.admin("GET", f"/arbiter/decisions/{decision_id}").json()
        if row.get("grade") is not None:
            return float(row["grade"])
        time.sleep(0.05)
    raise AssertionError(f"decision {decision_id} was never graded")


def _entries(sc: Sidecar) -> list[dict[str, Any]]:
    r = sc.admin("GET", "/arbiter/cache?limit=1000")
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def test_an_answer_graded_wrong_is_not_served_from_the_cache(cached: Sidecar) -> None:
    text = "Which city is the capital of France? One word."
    first = _ask(cached, text, **{"x-arbiter-reference": "Zanzibar"})
    assert first.headers["x-arbiter-cache"] == "miss"
    source = first.headers["x-arbiter-decision-id"]
    assert _grade(cached, source) < 0.5  # the reference does not match the answer
    deadline = time.monotonic() + 10  # the invalidation reaches the store after the grade
    while time.monotonic() < deadline and any(e["decision_id"] == source for e in _entries(cached)):
        time.sleep(0.05)
    again = _ask(cached, text)  # the same request, no reference: the same key
    # before the fix: a hit serving the answer the reference had just graded wrong
    assert again.headers["x-arbiter-cache"] == "miss", again.headers.get(
        "x-arbiter-cache-source-decision-id"
    )
    assert not any(e["decision_id"] == source for e in _entries(cached))


def test_an_answer_nothing_graded_low_stays_cached(cached: Sidecar) -> None:
    text = "Name one river in Europe."
    assert _ask(cached, text).headers["x-arbiter-cache"] == "miss"
    assert _ask(cached, text).headers["x-arbiter-cache"] == "hit"


def test_a_grade_before_or_after_the_store_keeps_the_answer_out(tmp_path: Path) -> None:
    """Grading may end before the answer is stored or after it (a reference's grade): either way
    a low grade keeps the answer out; a passing grade, or the sampled judge's, changes nothing."""

    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
        store.migrate()
        cache = ResponseCache(CacheSettings(enabled=True), {}, store)
        me = Principal("t1")
        answer = CanonicalResponse(
            "r", "sim-small", (TextPart("Paris."),), "end_turn", CanonicalUsage(3, 2)
        )

        def grade(decision_id: str, score: float, by: GraderKind = "reference") -> GradeRecord:
            return GradeRecord(decision_id, time.time(), "t1", "chat", "sim-small", score, by)

        async def answered(text: str, decision_id: str, before: float | None) -> str:
            body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
            look = await cache.lookup(parse_chat_request(orjson.dumps(body)), me)
            assert look.status == "miss"
            if before is not None:
                cache.graded(grade(decision_id, before))
            cache.remember(look, model="sim-small", task="chat", answer=answer, cost_usd=0.01,
                           decision_id=decision_id)  # fmt: skip
            cache.settle(look)
            assert look.keys is not None
            return look.keys.exact

        early = await answered("Capital of France?", "dec_early", before=0.1)
        late = await answered("Capital of Spain?", "dec_late", before=None)
        kept = await answered("Capital of Italy?", "dec_kept", before=0.9)
        assert early not in cache._entries and late in cache._entries
        cache.graded(grade("dec_late", 0.2))
        cache.graded(grade("dec_kept", 0.8))
        cache.graded(grade("dec_kept", 0.1, "judge"))  # an LLM's sampled opinion: not evicting
        await cache.drain()
        assert late not in cache._entries and kept in cache._entries
        assert [r["id"] for r in store.cache_list(tenant=None, limit=10)] == [kept]
        store.close()

    asyncio.run(main())


def test_a_replica_stops_serving_an_entry_another_replica_graded_wrong(tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL: the one that wrote the entry gets the reference's low
    grade; the other, which read the entry through and holds it in memory, drops it on its
    next sync (the store recorded the invalidation)."""
    base = require_pg()
    ref = {"x-arbiter-reference": "Zanzibar"}
    # a named model and a limit of its own: what `auto` picks moves with the latencies measured
    # on a loaded host, and an answer the sim cuts short at its own length is not stored
    body = {
        "model": "sim-small",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Capital of France? One word."}],
    }

    async def main(url: str) -> None:
        async with (
            sidecar_in_process(tmp_path / "a", edit_config=on_store(url, CACHE_ON)) as a,
            sidecar_in_process(tmp_path / "b", edit_config=on_store(url, CACHE_ON)) as b,
        ):
            b.api_key = a.api_key  # one tenant, one key table
            first = await chat(a, body, **ref)
            assert first.headers["x-arbiter-cache"] == "miss"
            source = first.headers["x-arbiter-decision-id"]
            await a.services.cache.drain()  # a's write landed (or its grade removed it first)
            read = await chat(b, body)  # read through, unless the grade was quicker
            deadline = time.monotonic() + 20
            while (await decision(a, source)).get("grade") is None:
                assert time.monotonic() < deadline, "never graded"
                await asyncio.sleep(0.05)
            assert (await decision(a, source))["grade"] < 0.5
            if read.headers["x-arbiter-cache"] == "miss":
                # on a loaded host the reference's grade can land before a's store write: the
                # entry was never stored, so b had nothing to serve (right, but this run could not
                # show b dropping an entry it held; most runs do)
                assert read.headers.get("x-arbiter-cache-source-decision-id") is None
                return
            assert read.headers["x-arbiter-cache-source-decision-id"] == source
            await a.services.cache.drain()
            await b.services.cache.sync()
            # before the fix: a hit on both replicas, the answer the reference graded wrong
            fresh = await chat(b, body)
            assert fresh.headers["x-arbiter-cache"] == "miss"
            # a is served b's fresh answer (stored by that miss), never the one graded wrong
            again = await chat(a, body)
            assert again.headers.get("x-arbiter-cache-source-decision-id") != source

    with fresh_database(base) as url:
        asyncio.run(main(url))
