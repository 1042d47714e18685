"""Outside probe: the SQLite store file write-locked by another process (a `sqlite3` shell left
in a transaction, a backup tool, a second sidecar stuck mid-write). A capped request waited the
whole busy_timeout (10 s) for the lock before its budget reservation failed over to the outage
allowance: the client hung 10 s (or until the lock went). Like PostgreSQL's bounded lock wait
(test_probe_budget_lock.py), a budget reservation now waits at most the budget lock wait, then
goes on under the outage allowance. An uncapped request reserves nothing, and must not wait
either (its records are written after the answer)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 100.0\n'
HOLD_S = 8  # the other process holds the write lock this long (shorter than busy_timeout)
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


@pytest.mark.parametrize("capped", [True, False], ids=["capped", "uncapped"])
def test_a_locked_sqlite_file_does_not_hang_a_request(tmp_path: Path, capped: bool) -> None:
    async def main() -> None:
        edit = (lambda text: text + CAP) if capped else (lambda text: text)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            ask = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
            r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
            assert r.status_code == 200, r.text  # the budget row exists, the store answers
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLDER, str(tmp_path / "arbiter.db"), str(HOLD_S),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                assert holder.stdout is not None
                assert await holder.stdout.readline() == b"locked\n"
                r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                assert r.status_code == 200, r.text
                # answered while the other process still held the lock: it did not wait for it.
                # Asked of the holder itself (it has not said it let go), not of asyncio's
                # returncode (set only once the loop has seen the exit) nor of a wall clock
                # (the whole test was bounded `< 60 s`, which waiting out HOLD_S passed)
                released = asyncio.create_task(holder.stdout.readline())
                await asyncio.sleep(0.05)  # a holder that let go has said so by now
                assert not released.done(), "the request waited for the lock"
                released.cancel()
            finally:
                holder.kill()
                await asyncio.wait_for(holder.wait(), 10)
            await asyncio.sleep(0.1)

    asyncio.run(main())
