"""A process's lease on its budget reservations (budget.py): a process whose lease lapsed (it
stalled, another process swept its holds, charging them as spent) goes on under a new name
without releasing the swept holds a second time or counting their requests twice; a clean stop
leaves nothing reserved; the sweeping process alerts the operator. Real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.budget import Budgets
from arbiter.config import BudgetSettings, CapSettings
from arbiter.principal import Principal
from arbiter.store import Store, open_store
from tests.pg import empty_store_url
from tests.waiting import until_async

P = Principal(tenant="acme", key_id="k1")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _budgets(store: Store, alerts: list[tuple[Any, ...]] | None = None) -> Budgets:
    s = BudgetSettings(caps=[CapSettings("tenant", 1.0, "total")], lease_s=1.0)
    return Budgets(s, store, lambda *a: None if alerts is None else alerts.append(a))


def _usage(store: Store) -> tuple[float, float]:
    row = store.budget_usage("tenant:acme")[0]
    return row["spent_usd"], row["reserved_usd"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with empty_store_url(request.param, tmp_path / "s.db") as url:
        s = open_store(url)
        s.migrate()
        yield s
        s.close()


# d1's real cost: below what the sweep charged for its hold (0.3), or above it
@pytest.mark.parametrize(("cost", "d1_spent"), [(0.05, 0.3), (0.45, 0.45)])
def test_a_lapsed_lease_renames_and_counts_nothing_twice(
    store: Store, cost: float, d1_spent: float
) -> None:
    """Was: the sweep released d1's 0.3 and its settle added 0.05. Now the sweep charges the 0.3
    (the call may have been billed) and d1's settle adds only what it cost beyond that: d1
    counts max(hold, cost), never hold + cost."""

    async def go() -> None:
        b = _budgets(store)
        await b.start()
        caps = b.caps_for(P, 0.0)
        worst = {"m": 0.3, "big": 0.4, "n": 0.2}
        first = await b.open("d1", caps, worst.__getitem__, ["m"])
        # the process stalled past its lease: another one swept what it held, as spent
        store.sweep_budget_holds(time.time() + 3600)
        assert _usage(store) == pytest.approx((0.3, 0.0))
        old = b.owner
        await until_async(
            lambda: b.keep_lease() if b.owner == old else True, "it noticed its lease was gone"
        )
        await b.before_call(first, "big")  # a top-up: 0.1 more, under the new name
        await b.open("d2", caps, worst.__getitem__, ["n"])
        assert _usage(store) == pytest.approx((0.3, 0.3))
        await b.settle("d1", cost)  # releases its top-up only: the sweep charged the rest
        assert _usage(store) == pytest.approx((d1_spent, 0.2))
        await b.settle("d2", 0.01)
        assert _usage(store) == pytest.approx((d1_spent + 0.01, 0.0))

    asyncio.run(go())


def test_a_settle_racing_the_sweep_counts_the_request_once(store: Store) -> None:
    """The sweep charges the hold between the stall and the process noticing: its settle
    (still under the old name) adds only what passes the charged hold."""

    async def go() -> None:
        b = _budgets(store)
        await b.start()
        caps = b.caps_for(P, 0.0)
        await b.open("d1", caps, lambda _m: 0.3, ["m"])
        await b.open("d2", caps, lambda _m: 0.2, ["m"])
        store.sweep_budget_holds(time.time() + 3600)
        assert _usage(store) == pytest.approx((0.5, 0.0))
        await b.settle("d1", 0.1)  # under its charged 0.3: nothing more
        await b.settle("d2", 0.25)  # 0.05 past its charged 0.2
        assert _usage(store) == pytest.approx((0.55, 0.0))

    asyncio.run(go())


def test_the_sweeper_alerts_the_operator_once_per_dead_owner(store: Store) -> None:
    async def go() -> None:
        alerts: list[tuple[Any, ...]] = []
        dead = _budgets(store)
        await dead.start()
        caps = dead.caps_for(P, 0.0)
        await dead.open("d1", caps, lambda _m: 0.3, ["m"])
        await dead.open("d2", caps, lambda _m: 0.2, ["m"])
        # the dead process's lease ran out: expire it in the store, then a live one sweeps
        store.open_budget_lease(dead.owner, time.time() - 1)
        live = _budgets(store, alerts)
        await live.start()
        assert _usage(store) == pytest.approx((0.5, 0.0))
        (charged,) = [a for a in alerts if a[1] == "budget_hold_charged"]
        tenant, _, message, data = charged
        assert tenant == "_system"
        assert dead.owner in message and "$0.50" in message, message
        assert data["owner"] == dead.owner and data["charged_usd"] == pytest.approx(0.5)
        # the charge crossed the cap's 50% threshold: its alert says so, as a settle's would
        (threshold,) = [a for a in alerts if a[1] == "budget_threshold"]
        assert threshold[0] == "acme" and threshold[3]["spent_usd"] == pytest.approx(0.5)
        assert threshold[3]["threshold"] == 0.5
        live._lease_due = 0.0
        await live.keep_lease()  # nothing left to sweep: no second alert
        assert len(alerts) == 2

    asyncio.run(go())


def test_a_clean_stop_settles_open_charges_and_leaves_nothing_reserved(store: Store) -> None:
    async def go() -> None:
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

    asyncio.run(go())
