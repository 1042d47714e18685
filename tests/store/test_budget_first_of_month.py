"""The first day of a month: a scope's day window and its month window start at the same second,
so their caps name one spend row (scope, window_start) in the store. A request must count in it
once (counted once per cap, the month's spend kept day 1's twice), and the month cap's alerts
must still fire later in the month (they were taken for the day cap's, already sent)."""

from __future__ import annotations

import asyncio
import calendar

from arbiter.budget import Budgets
from arbiter.config import BudgetSettings, CapSettings
from arbiter.principal import Principal
from arbiter.store import Store

DEC_1 = calendar.timegm((2026, 12, 1, 10, 0, 0))
DEC_2 = calendar.timegm((2026, 12, 2, 10, 0, 0))


def test_day_one_of_a_month_counts_once_and_the_month_still_alerts(store: Store) -> None:
    caps = [CapSettings("tenant", 1.0, "day"), CapSettings("tenant", 2.0, "month")]
    alerts: list[tuple[str, object]] = []
    budgets = Budgets(
        BudgetSettings(caps=caps, alert_thresholds=[0.5]),
        store,
        alert=lambda tenant, kind, message, data: alerts.append((message, data["window"])),
    )
    who = Principal(tenant="acme", key_id="k1")

    async def spend(decision_id: str, now: float, actual: float) -> None:
        charge = await budgets.open(decision_id, budgets.caps_for(who, now), lambda _m: 0.9, ["m"])
        charge.commit(actual)
        await budgets.settle(decision_id, actual)

    async def main() -> None:
        await budgets.start()
        await spend("d1", DEC_1, 0.5)
        await spend("d2", DEC_2, 0.6)
        await budgets.stop(1.0)

    asyncio.run(main())
    rows = {r["window_start"]: r for r in store.budget_usage("tenant:acme")}
    month_start = calendar.timegm((2026, 12, 1, 0, 0, 0))
    assert abs(rows[month_start]["spent_usd"] - 1.1) < 1e-9, rows  # 0.5 once, then 0.6
    assert abs(rows[month_start + 86400]["spent_usd"] - 0.6) < 1e-9, rows
    assert all(abs(r["reserved_usd"]) < 1e-9 for r in rows.values()), rows
    # day 1: the day cap's 50% ($0.50); day 2: the day cap's ($0.60) and the month's ($1.10)
    assert sorted(w for _, w in alerts) == ["day", "day", "month"], alerts
