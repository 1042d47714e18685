"""Cache entries' ages and expiries were stamped and read on each replica's own clock
(probe24d): with two replicas on one PostgreSQL store, one whose clock runs 5 minutes ahead
found every entry the other wrote (ttl 2 minutes) already expired and called the upstream again
(one 5 minutes behind would serve entries minutes past their ttl). The cache now keeps time on
the store's clock as each replica last read it (`StateSync.store_time`)."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url

pytestmark = pytest.mark.postgres
TTL_S = 120
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Name three rivers."}]}


def _cache_on(text: str) -> str:
    return text + f"\n[cache]\nenabled = true\nttl_s = {TTL_S}\n"


async def _skew(sc: InProcess, by_s: float) -> None:
    """`sc`'s host clock `by_s` off (its sync then reads the store's clock against it)."""

    def clock() -> float:
        return time.time() + by_s

    svc = sc.services
    if hasattr(svc, "state_sync"):
        svc.state_sync.clock = clock
        svc.state_sync._offset_at = -math.inf
        await asyncio.to_thread(svc.sync_policy)
    else:  # base: the cache's own clock was the host's
        svc.cache.clock = clock


def test_an_entry_written_by_one_replica_is_served_by_one_whose_clock_is_ahead(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        with empty_store_url("postgres", tmp_path / "unused.db") as url:
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            async with (
                sidecar_in_process(tmp_path / "a", edit_config=_cache_on, store_url=url) as a,
                sidecar_in_process(tmp_path / "b", edit_config=_cache_on, store_url=url) as b,
            ):
                await _skew(b, 300.0)
                first = await a.client.post("/v1/chat/completions", json=BODY, headers=a.auth)
                assert first.status_code == 200, first.text
                assert first.headers["x-arbiter-cache"] == "miss"
                await a.services.cache.drain()  # written to the store
                second = await b.client.post("/v1/chat/completions", json=BODY, headers=b.auth)
                assert second.status_code == 200, second.text
                assert second.headers["x-arbiter-cache"] == "hit", dict(second.headers)
                assert (
                    second.headers["x-arbiter-cache-source-decision-id"]
                    == (first.headers["x-arbiter-decision-id"])
                )

    asyncio.run(main())
