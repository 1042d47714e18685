"""route25 item 3 end to end: identical requests waiting on a leader whose client leaves (an
in-process sidecar before the sim upstream; the leader's client a raw ASGI one that leaves).
Before, all of them went on as misses at once: one upstream call each. Now the first
leads and the rest are served its answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from tests.inproc import InProcess
from tests.test_probe_cache_sdk import _asgi_scope, _sim, _upstream_calls, run

WAITERS = 3


def test_waiters_on_a_leader_whose_client_left_make_one_more_call_not_three(
    tmp_path: Path,
) -> None:
    async def body(sc: InProcess) -> None:
        await _sim(sc, "/_sim/control", {"model": "sim-small", "stall": 1.0, "stall_ms": 1500})
        chat = {"model": "sim-small", "messages": [{"role": "user", "content": "Why is it dark?"}]}

        key = {"authorization": f"Bearer {sc.api_key}"}  # the leader's too (_asgi_scope)

        def ask() -> asyncio.Task[object]:
            return asyncio.ensure_future(
                sc.client.post("/v1/chat/completions", json=chat, headers=key)
            )

        before = await _upstream_calls(sc)
        leave = asyncio.Event()
        inbox = [{"type": "http.request", "body": orjson.dumps(chat)}]

        async def leader_receive() -> dict[str, Any]:
            if inbox:
                return inbox.pop(0)
            await leave.wait()
            return {"type": "http.disconnect"}

        async def leader_send(message: dict[str, Any]) -> None:
            pass

        leader = asyncio.ensure_future(
            sc.app(_asgi_scope(sc, "/v1/chat/completions"), leader_receive, leader_send)
        )
        for _ in range(2000):  # the leader leads its key's flight (10 s at most)
            if sc.services.cache._flights:
                break
            await asyncio.sleep(0.005)
        assert sc.services.cache._flights, "the leader never led a flight"
        waiters = [ask() for _ in range(WAITERS)]
        await asyncio.sleep(0.3)  # they wait on the leader
        leave.set()  # its client left
        answers = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        await asyncio.wait_for(leader, 30)
        assert all(r.status_code == 200 for r in answers)  # type: ignore[attr-defined]
        statuses = sorted(r.headers["x-arbiter-cache"] for r in answers)  # type: ignore[attr-defined]
        calls = await _upstream_calls(sc) - before
        assert (calls, statuses) == (2, ["hit", "hit", "miss"])  # base: 4 calls, 3 misses

    run(tmp_path, body)
