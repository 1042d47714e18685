"""cache26: an entry outlived its TTL by as much as the host's clock was stepped back (NTP, a VM
resumed): read against the earlier clock, an entry written "later" was within both its expiry
and its TTL for the TTL plus the step. On SQLite the store's clock is the host's, so nothing
corrects it. An entry written ahead of now (past a few seconds' skew) is now not fresh."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import InProcess, sidecar_in_process
from tests.test_left25_cache_clock import _skew

TTL_S = 30
BODY = {
    "model": "auto",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Name a fish."}],
}


async def _status(sc: InProcess) -> str:
    r = await sc.client.post("/v1/chat/completions", json=BODY, headers=sc.auth)
    assert r.status_code == 200, r.text
    await sc.services.cache.drain()
    return r.headers["x-arbiter-cache"]


def test_an_entry_is_not_served_past_its_ttl_after_the_clock_steps_back(tmp_path: Path) -> None:
    async def main() -> None:
        edit = lambda t: t + f"\n[cache]\nenabled = true\nttl_s = {TTL_S}\n"  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            assert await _status(sc) == "miss"
            assert await _status(sc) == "hit"  # the control: served within its TTL
            # the host's clock steps back an hour, then runs on past the entry's TTL (the clock
            # read as it would read TTL_S + 1 s after the step: no sleep)
            await _skew(sc, -3600.0 + TTL_S + 1)
            assert await _status(sc) == "miss"

    asyncio.run(main())
