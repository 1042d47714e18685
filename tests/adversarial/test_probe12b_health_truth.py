"""Outside probe (twelfth session): what /healthz, /metrics and /arbiter/stats say while the
store refuses the budget's writes.

The SQLite file write-locked by another process (a shell left in a transaction, a backup): a
capped request's reservation gave up after its 2 s bound, logged "budget store unreachable:
using the outage allowance", and capped requests went on under the allowance (then 503s). Yet
/healthz said `store_healthy: true`, /metrics `arbiter_store_up 1` and /arbiter/stats the same:
all three read only the recorder, whose batch waits out the store's 10 s busy timeout first. An
orchestrator or a dashboard trusting them saw a healthy store while budgets were failing
closed. The store is now healthy to them only while both the recorder and the budget reach it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.adversarial.test_probe_sqlite_lock import CAP, HOLDER
from tests.inproc import InProcess, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

HOLD_S = 6  # under the recorder's 10 s busy timeout: only the budget has failed meanwhile


async def _views(sc: InProcess) -> tuple[bool, str, bool]:
    health = (await sc.client.get("/healthz")).json()["store_healthy"]
    metrics = (await sc.client.get("/metrics", headers=sc.admin)).text
    up = next(line for line in metrics.splitlines() if line.startswith("arbiter_store_up"))
    stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()["store"]["healthy"]
    return health, up, stats


def test_health_says_the_store_is_down_while_budgets_cannot_reach_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda text: text + CAP) as sc:
            ask = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
            r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
            assert r.status_code == 200, r.text
            assert await _views(sc) == (True, "arbiter_store_up 1", True)
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLDER, str(tmp_path / "arbiter.db"), str(HOLD_S),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                assert holder.stdout is not None
                assert await holder.stdout.readline() == b"locked\n"
                r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                assert r.status_code == 200, r.text  # served, under the outage allowance
                assert sc.services.budgets.store_down  # the budget knows
                assert holder.returncode is None  # the lock is still held
                assert await _views(sc) == (False, "arbiter_store_up 0", False)
            finally:
                holder.kill()
                await asyncio.wait_for(holder.wait(), 10)
            for _ in range(100):  # the budget's retry writes the queued settle (bounded: 10 s)
                if await _views(sc) == (True, "arbiter_store_up 1", True):
                    break
                await asyncio.sleep(0.1)
            assert await _views(sc) == (True, "arbiter_store_up 1", True)

    asyncio.run(main())
