"""probe23b: a PostgreSQL restart in the middle of a burst against a tight cap shared by two
replicas (a private cluster: tests/e2e/test_pg_restart_replicas.py restarts one under loose
caps). While the store is down each replica may spend `budgets.outage_allowance` of the cap on
its own, reconciled after (README): so the cap may pass by at most both replicas' allowance
and one request's worst case, every settle made during the outage lands once it is back
(the spend is the decisions' and the upstream's bill), and nothing stays reserved."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import openai
import pytest

from tests.bench_scripts import load
from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import Fleet, fleet
from tests.probe23b_rig import ask, decided_usd, warm

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

CAP_USD = 1.5
ALLOWANCE = 0.05
BILL_USD = (PROMPT_TOKENS * PRICES["oa-1"][0] + COMPLETION_TOKENS * PRICES["oa-1"][1]) / 1e6
CLIENTS = 8
BOUND_S = 40.0


def _edit(doc: dict[str, Any]) -> None:
    doc["budgets"]["outage_allowance"] = ALLOWANCE


async def _client(base_url: str, key: str, out: list[str], deadline: float) -> None:
    """Requests one after another until the cap turns the key away for good (or the bound)."""
    async with openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0) as c:
        refused = 0
        while refused < 3 and time.monotonic() < deadline:
            got = await ask(c, max_tokens=COMPLETION_TOKENS)
            out.append(got)
            refused = refused + 1 if got == "budget" else 0
            if got != "ok":
                await asyncio.sleep(0.1)


def _restart(f: Fleet, key: str, store: ModuleType, pgdir: Path, port: int) -> list[str]:
    out: list[str] = []

    async def run() -> None:
        deadline = time.monotonic() + BOUND_S
        clients = [
            asyncio.ensure_future(_client(f.sidecars[i % 2].base_url, key, out, deadline))
            for i in range(CLIENTS)
        ]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(store._pg_ctl, "stop", pgdir, port)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(store._pg_ctl, "start", pgdir, port)
        await asyncio.gather(*clients)

    asyncio.run(run())
    return out


def test_a_store_restart_mid_burst_stays_within_the_allowance(tmp_path: Path) -> None:
    store = load("store")
    caps = [{"scope": "key", "limit_usd": CAP_USD, "window": "total"}]
    with (
        store.throwaway_cluster() as (pgdir, port, url),
        fleet(tmp_path, url, caps, replicas=2, edit=_edit) as f,
    ):
        key = str(f.first.create_key("t")["key"])
        warm(f, key, max_tokens=COMPLETION_TOKENS)  # each replica has seen the key
        f.up.script["oa-1"] = "delay@0.2"  # the cap lasts past the outage's start
        out = _restart(f, key, store, pgdir, port)
        odd = [o for o in out if o not in ("ok", "budget") and not o.startswith("503")]
        assert not odd, odd[:5]
        assert out.count("budget") >= CLIENTS, "the cap never turned the key away"
        assert any(o.startswith("503") for o in out), "the outage was never felt"
        deadline = time.monotonic() + 30
        while True:  # every settle queued while the store was down has landed (bounded)
            rows = f.settled()
            spent = next(v for k, v in rows.items() if k.startswith("key:"))[0]
            if spent == pytest.approx(f.billed_usd(), abs=1e-6):
                break
            assert time.monotonic() < deadline, (rows, f.billed_usd())
            time.sleep(0.2)
        assert decided_usd(f) == pytest.approx(spent, abs=1e-6)
        bound = CAP_USD * (1 + 2 * ALLOWANCE) + BILL_USD
        assert spent <= bound, (spent, bound, out.count("ok"))
        print(
            f"spent {spent:.3f} of {CAP_USD} (bound {bound:.3f}); {len(out)} asked,"
            f" {out.count('ok')} answered, {sum(o.startswith('503') for o in out)} 503"
        )
