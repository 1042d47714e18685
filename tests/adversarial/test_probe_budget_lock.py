"""Outside probe: PostgreSQL answering, but the budget row locked by someone else (a replica
stopped mid-transaction, a long maintenance statement, a migration). A capped request waited for
the lock for as long as it was held (20 s in the probe; with no bound at all): the store was not
"down", so the outage allowance never applied. A reservation or settle now waits at most
postgres.BUDGET_LOCK_WAIT_MS for the lock, then fails like an unreachable store: the request goes
on under the replica's outage allowance (reconciled after), instead of hanging."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import psycopg

from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 100.0\n'
HOLD_S = 30.0  # the lock is held at most this long (released as soon as the request is done)


def test_a_locked_budget_row_does_not_hang_a_capped_request(tmp_path: Path) -> None:
    with fresh_database(require_pg()) as url:

        def config(text: str) -> str:
            return re.sub(r'url = "sqlite:[^"]*"', f'url = "{url}"', text) + CAP

        locked, done = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with psycopg.connect(url) as conn:
                conn.execute("LOCK TABLE budget_usage IN ACCESS EXCLUSIVE MODE")
                locked.set()
                done.wait(HOLD_S)  # a transaction held open: the lock stays until it ends

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                ask = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
                r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                assert r.status_code == 200, r.text  # the row exists, the store answers
                holder = threading.Thread(target=hold_the_lock, daemon=True)
                holder.start()
                assert locked.wait(10)
                try:
                    r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                    assert r.status_code == 200, r.text
                    # answered while the lock was still held: it did not wait for the lock
                    assert holder.is_alive() and not done.is_set()
                finally:
                    done.set()
                    holder.join(10)

        asyncio.run(main())
