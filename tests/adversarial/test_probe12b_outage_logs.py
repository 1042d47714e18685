"""Outside probe (twelfth session): what the operator's log says while the shared PostgreSQL
store is down for a few seconds.

The recorder says it once ("store ... unavailable, buffering N records") and once more when the
store is back. The policy sync loop logged a WARNING with a full traceback (30-odd lines) on
every sync interval, once a second by default, for as long as the outage lasted: a minute's
outage buried the two lines that mattered under 2,000 lines of the same stack. A sync that
fails because the store is unavailable is now one line when it starts failing and one when it
syncs again; anything else (a bug) keeps its traceback."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg, set_connections

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(90)]

SYNC_MS = 200
OUTAGE_S = 2.5  # a dozen sync intervals


def test_a_store_outage_is_one_sync_line_not_a_traceback_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fresh_database(require_pg()) as url:
        db = url.rsplit("/", 1)[1]

        def on_pg(text: str) -> str:
            return "\n".join(
                f'url = "{url}"\nsync_interval_ms = {SYNC_MS}' if line.startswith("url = ")
                else line
                for line in text.splitlines()
            )  # fmt: skip

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=on_pg) as sc:
                body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text
                caplog.set_level(logging.DEBUG, logger="arbiter.state_sync")
                caplog.clear()
                await asyncio.to_thread(set_connections, db, False)
                try:
                    t0 = time.monotonic()
                    while time.monotonic() - t0 < OUTAGE_S:  # traffic goes on meanwhile
                        r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                        assert r.status_code == 200, r.text
                        await asyncio.sleep(0.1)
                finally:
                    await asyncio.to_thread(set_connections, db, True)
                for _ in range(100):  # until a sync goes through again (bounded: 20 s)
                    if any("policy sync" in m and "back" in m for m in caplog.messages):
                        break
                    await asyncio.sleep(0.2)

        asyncio.run(main())
    sync_lines = [
        r for r in caplog.records
        if r.name == "arbiter.state_sync" and "policy sync" in r.getMessage()
        and r.levelno >= logging.INFO
    ]  # fmt: skip
    with_stack = [r for r in sync_lines if r.exc_info]
    assert not with_stack, f"{len(with_stack)} tracebacks for one outage"
    messages = [r.getMessage() for r in sync_lines]
    assert len(messages) == 2, messages  # it failed (naming why), it is back
    assert "unavailable" in messages[0] or "unreachable" in messages[0], messages[0]
    assert "back" in messages[1], messages[1]
