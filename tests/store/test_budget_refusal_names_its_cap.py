"""A scope with a day cap and a month cap: the store says which scope a reservation would pass;
the 429 must name the cap of the window that is spent (its limit, when it resets) and say
whether a retry can succeed by that cap. It named the scope's first cap: a spent month read as
the day cap ("resets" tomorrow) and, the day's limit being higher, `x-should-retry: true`,
so the SDKs retried a request no retry could pass before the month ends."""

from __future__ import annotations

import asyncio
import calendar

import pytest

from arbiter.budget import Budgets
from arbiter.config import BudgetSettings, CapSettings
from arbiter.errors import BudgetExceeded
from arbiter.principal import Principal
from arbiter.store import Store

DEC_10 = calendar.timegm((2026, 12, 10, 10, 0, 0))


@pytest.mark.parametrize("day_first", [True, False])
def test_a_spent_month_is_refused_as_the_month_cap(store: Store, day_first: bool) -> None:
    caps = [CapSettings("tenant", 5.0, "day"), CapSettings("tenant", 1.0, "month")]
    budgets = Budgets(
        BudgetSettings(caps=caps if day_first else caps[::-1]), store, alert=lambda *a: None
    )
    who = Principal(tenant="acme", key_id="k1")

    async def main() -> BudgetExceeded:
        await budgets.start()
        # spent on the 9th: the month's row has it, the 10th's day row does not
        nine = DEC_10 - 86400
        charge = await budgets.open("d1", budgets.caps_for(who, nine), lambda _m: 0.9, ["m"])
        charge.commit(0.9)
        await budgets.settle("d1", 0.9)
        try:
            with pytest.raises(BudgetExceeded) as refused:
                await budgets.open("d2", budgets.caps_for(who, DEC_10), lambda _m: 0.5, ["m"])
        finally:
            await budgets.stop(1.0)
        return refused.value

    err = asyncio.run(main())
    assert "monthly cap of $1.00" in err.message, err.message
    assert "resets at 2027-01-01T00:00:00+00:00" in err.message, err.message
    assert err.should_retry is False  # $0.90 spent + $0.50 passes $1 whatever settles
