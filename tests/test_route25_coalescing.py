"""Identical requests waiting on a leader whose client left (route25 item 3): they all went on
as misses at once, a herd of upstream calls; now the first waiter leads a new flight and the
rest wait on it. A leader that failed for itself (stored nothing) still lets them go at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from arbiter.cache.service import ResponseCache
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart
from arbiter.config import CacheSettings
from arbiter.principal import Principal
from arbiter.store import open_store
from arbiter.surfaces.openai_chat import parse_chat_request

ANSWER = CanonicalResponse(
    "r1", "sim-small", (TextPart("Hello."),), "end_turn", CanonicalUsage(3, 2)
)


@pytest.mark.parametrize("client_left", [True, False])
def test_waiters_on_a_leader_whose_client_left_take_turns(
    tmp_path: Path, client_left: bool
) -> None:
    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
        store.migrate()
        cache = ResponseCache(CacheSettings(enabled=True), {}, store, wait_s=3600.0)
        req = parse_chat_request(
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]})
        )
        me = Principal("t1")
        leader = await cache.lookup(req, me)
        assert leader.flight is not None
        waiters = [asyncio.create_task(cache.lookup(req, me)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiters)
        cache.settle(leader, client_left=client_left)  # gone (or failed): nothing stored
        await asyncio.sleep(0.05)
        done = [w for w in waiters if w.done()]
        if not client_left:  # an error of its own: theirs too, not a queue behind each other
            assert len(done) == 3 and all(w.result().flight is None for w in done)
            assert [w.result().status for w in done] == ["miss"] * 3
            return
        assert len(done) == 1, "one waiter leads; the rest wait on it"
        second = done[0].result()
        assert second.status == "miss" and second.flight is not None
        cache.remember(second, model="sim-small", task="chat", answer=ANSWER, cost_usd=0.01,
                       decision_id="dec_2")  # fmt: skip
        cache.settle(second)
        rest = [await w for w in waiters if w is not done[0]]
        assert [r.status for r in rest] == ["hit", "hit"]
        assert cache.view()["coalesced"] == 2
        await cache.drain()
        store.close()

    asyncio.run(main())
