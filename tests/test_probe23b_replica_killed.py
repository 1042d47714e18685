"""probe23b: one of two replicas on PostgreSQL killed -9 with requests at the upstream
(probe22b killed a worker of a `server.workers` set on SQLite, whose supervisor restarts it):
here nothing restarts it. The live replica sweeps the dead one's holds once its lease lapses,
charging them as spent, once, with one `budget_hold_charged` alert; the upstream's bill for the
dead replica's calls is covered (it answered and billed them after the kill), the live replica
keeps serving under the cap, and later sweeps charge nothing again."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.probe22b_rig import fleet
from tests.probe23b_rig import ask, decided_usd

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

LEASE_S = 2.0
IN_FLIGHT = 4
CAPS = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]


def _short_lease(doc: dict[str, Any]) -> None:
    doc["budgets"]["lease_s"] = LEASE_S
    doc["store"]["sync_interval_ms"] = 300


def test_a_replica_killed_holding_reservations(tmp_path: Path) -> None:
    with fleet(tmp_path, "postgres", CAPS, replicas=2, edit=_short_lease) as f:
        live, dead = f.sidecars  # the fleet's reads go to its first: the live one
        key = str(dead.create_key("t")["key"])
        f.up.reset(oa_1="delay@2.5")

        async def in_flight_then_kill() -> list[str]:
            async with openai.AsyncOpenAI(
                api_key=key, base_url=dead.base_url, max_retries=0, timeout=30
            ) as c:
                tasks = [asyncio.ensure_future(ask(c, max_tokens=20)) for _ in range(IN_FLIGHT)]
                deadline = time.monotonic() + 20
                while len(f.up.calls) < IN_FLIGHT:  # every call at the upstream, held
                    assert time.monotonic() < deadline, f.up.calls
                    await asyncio.sleep(0.02)
                assert dead.proc is not None and dead.proc.proc is not None
                dead.proc.proc.send_signal(signal.SIGKILL)  # one process: workers = 1
                return await asyncio.gather(*tasks)

        outcomes = asyncio.run(in_flight_then_kill())
        assert "ok" not in outcomes, outcomes  # no answer came back from the dead replica
        held = f.cap_rows()["tenant:t"]
        assert held[1] > 0, held  # the dead replica's holds, until its lease lapses
        billed = f.billed_once_answered(IN_FLIGHT)  # the dead replica's calls, held there
        assert billed == pytest.approx(IN_FLIGHT * 0.025), f.up.bills  # it did bill them all
        f.up.script["oa-1"] = "ok"
        deadline = time.monotonic() + 30
        while (row := f.cap_rows()["tenant:t"])[1] > 1e-9:
            assert time.monotonic() < deadline, row
            time.sleep(0.2)
        spent = row[0]
        print(
            f"held {held[1]:.4f} for {IN_FLIGHT}; charged {spent:.4f}; billed {f.billed_usd():.4f}"
        )
        assert spent >= billed - 1e-9  # nothing the upstream billed went uncharged
        assert spent == pytest.approx(held[1], abs=1e-9)  # each hold charged as it was held
        alerts = f.get("/arbiter/alerts")["data"]
        assert [a["kind"] for a in alerts].count("budget_hold_charged") == 1, alerts

        # the live replica serves on, each answer its bill; later sweeps charge nothing again
        async def more() -> list[str]:
            async with openai.AsyncOpenAI(api_key=key, base_url=live.base_url, max_retries=0) as c:
                return [await ask(c, max_tokens=20) for _ in range(3)]

        assert asyncio.run(more()) == ["ok"] * 3
        time.sleep(2 * LEASE_S)
        after = f.cap_rows()["tenant:t"]
        assert after[1] == 0.0
        # the dead replica's requests have no decisions: the charged holds are the rest
        assert after[0] == pytest.approx(spent + decided_usd(f), abs=1e-9)
