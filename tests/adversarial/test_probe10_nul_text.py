"""Outside probe (tenth session): a NUL character (JSON's "\\u0000") in a prompt's last user
turn, with the response cache on and the store on PostgreSQL.

The cache writes that turn's text next to the entry (the semantic matcher's input), and
PostgreSQL text cannot hold NUL: every such answer logged a WARNING with a traceback ("cache
entry ... not stored (kept in memory only)"), so any client could fill the operator's log at
will, and the entry never reached the store, so other replicas (and this one after a restart)
missed it. The text is now stored with NUL as U+FFFD (text the semantic side never embeds
either way), and the entry is shared like any other."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg
from tests.test_cache import CACHE_ON, chat
from tests.test_cache_store import on_store

SEMANTIC_ON = CACHE_ON + "semantic = true\n"
ASK = {"model": "auto", "messages": [{"role": "user", "content": "What is \x00 the capital?"}]}


def test_a_nul_in_the_last_user_turn_is_cached_and_shared_on_postgresql(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = require_pg()

    async def main(url: str) -> None:
        async with (
            sidecar_in_process(tmp_path / "a", edit_config=on_store(url, SEMANTIC_ON)) as a,
            sidecar_in_process(tmp_path / "b", edit_config=on_store(url, SEMANTIC_ON)) as b,
        ):
            b.api_key = a.api_key  # one tenant, one key table
            with caplog.at_level(logging.WARNING, logger="arbiter.cache"):
                await chat(a, ASK)
            assert (
                not [  # (the start-up line on the default bound is fix24's, not this)
                    r
                    for r in caplog.records
                    if r.name.startswith("arbiter.cache")
                    and "max_false_hit_rate" not in r.getMessage()
                ]
            )
            r = await chat(b, ASK)  # not in b's memory: read through to the store
            assert r.headers["x-arbiter-cache"] == "hit", r.headers
            listed = (await a.client.get("/arbiter/cache", headers=a.admin)).json()["data"]
            assert [e["user_text"] for e in listed] == ["What is \ufffd the capital?"]

    with fresh_database(base) as url:
        asyncio.run(main(url))
