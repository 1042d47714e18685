"""A process's lease on its budget reservations (budget.py): a process whose lease lapsed (it
stalled, another process swept its holds) goes on under a new name without releasing the swept
holds a second time; a clean stop leaves nothing reserved. A real SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter.budget import Budgets
from arbiter.config import BudgetSettings, CapSettings
from arbiter.principal import Principal
from arbiter.store import Store, open_store
from tests.waiting import until_async

P = Principal(tenant="acme", key_id="k1")


def _budgets(store: Store) -> Budgets:
    s = BudgetSettings(caps=[CapSettings("tenant", 1.0, "total")], lease_s=1.0)
    return Budgets(s, store, lambda *a: None)


def _usage(store: Store) -> tuple[float, float]:
    row = store.budget_usage("tenant:acme")[0]
    return row["spent_usd"], row["reserved_usd"]


def _store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    return store


def test_a_lapsed_lease_renames_and_releases_nothing_twice(tmp_path: Path) -> None:
    async def go() -> None:
        store = _store(tmp_path)
        b = _budgets(store)
        await b.start()
        caps = b.caps_for(P, 0.0)
        worst = {"m": 0.3, "big": 0.4, "n": 0.2}
        first = await b.open("d1", caps, worst.__getitem__, ["m"])
        # the process stalled past its lease: another one swept what it held
        store.sweep_budget_holds(time.time() + 3600)
        assert _usage(store) == pytest.approx((0.0, 0.0))
        old = b.owner
        await until_async(
            lambda: b.keep_lease() if b.owner == old else True, "it noticed its lease was gone"
        )
        await b.before_call(first, "big")  # a top-up: 0.1 more, under the new name
        await b.open("d2", caps, worst.__getitem__, ["n"])
        assert _usage(store) == pytest.approx((0.0, 0.3))
        await b.settle("d1", 0.05)  # releases its top-up only: the sweep had the rest
        assert _usage(store) == pytest.approx((0.05, 0.2))
        await b.settle("d2", 0.01)
        assert _usage(store) == pytest.approx((0.06, 0.0))
        store.close()

    asyncio.run(go())


def test_a_clean_stop_settles_open_charges_and_leaves_nothing_reserved(tmp_path: Path) -> None:
    async def go() -> None:
        store = _store(tmp_path)
        b = _budgets(store)
        await b.start()
        caps = b.caps_for(P, 0.0)
        charge = await b.open("d1", caps, lambda _m: 0.3, ["m"])
        await b.before_call(charge, "m")  # its call is under way when the shutdown cuts it
        await b.open("d2", caps, lambda _m: 0.2, ["m"])  # never called upstream
        assert _usage(store) == pytest.approx((0.0, 0.5))
        await b.stop(5.0)
        assert _usage(store) == pytest.approx((0.3, 0.0))  # the cut call may have been billed
        assert store.expired_budget_holds(time.time() + 3600) == {}
        store.close()

    asyncio.run(go())
