"""What GET /arbiter/budgets shows: spend and in-flight reservations of each cap window open now.

The store keeps a row per scope and window forever (a daily cap per key: a row per key a day);
only the open windows (today's, this month's, the total) are where caps act, so only they are
read and shown, and the rows are built off the event loop (`budget_view` runs in a thread).
What closed windows spent stays in /arbiter/timeseries and the decisions."""

from __future__ import annotations

import time
from typing import Any

from arbiter.budget import window_bounds
from arbiter.principal import Principal
from arbiter.store import Store

SHARED_SCOPES = ("global", "shadow")  # budget caps every tenant's requests count against
_WINDOWS = ("total", "day", "month")


def open_window_starts(now: float) -> list[float]:
    """The window_start of every window open at `now` (budget.window_bounds makes them all)."""
    return sorted({window_bounds(w, now)[0] for w in _WINDOWS})


def usd(x: float) -> float:
    """A money amount as /arbiter/budgets shows it: to 1e-9 USD, as the models' prices per token
    (listing.py) and shadow costs are, so sums of floats carry no 1e-17 residue into the API."""
    return round(float(x), 9) + 0.0  # + 0.0: -0.0 (a residue below 0) reads as 0.0


def budget_view(
    store: Store, principal: Principal, tenant: str | None, now: float | None = None
) -> dict[str, Any]:
    """The endpoint's body (blocking: call it in a thread). A client key's own tenant and key;
    the admin's every scope, or with `tenant` that tenant's, its keys' and the shared caps
    (global, shadow) that bind its requests too. Each row says whether it is `shared`; a client
    key is not shown the shared ones (they total every tenant's spend) and is told so. The
    admin also sees `reserved_expired_usd`: what processes whose lease expired (killed with
    requests in flight) still hold in `reserved_usd` until a sweep charges it as spent."""
    now = time.time() if now is None else now  # the windows open at `now` (Budgets.now)
    rows = [
        {
            **r,
            "spent_usd": usd(r["spent_usd"]),
            "reserved_usd": usd(r["reserved_usd"]),
            "shared": r["scope"] in SHARED_SCOPES,
        }
        for r in store.budget_usage("", open_window_starts(now))
    ]
    if principal.sees_all:
        expired = store.expired_budget_holds(time.time())  # leases: the real clock's
        for r in rows:
            r["reserved_expired_usd"] = usd(expired.get((r["scope"], r["window_start"]), 0.0))
        if tenant is None:
            return {"object": "list", "data": rows}
        keys = store.list_keys(tenant)
        mine = {f"tenant:{tenant}", *(f"key:{k['id']}" for k in keys), *SHARED_SCOPES}
        return {"object": "list", "data": [r for r in rows if r["scope"] in mine]}
    mine = {f"tenant:{principal.tenant}", f"key:{principal.key_id}"}
    return {
        "object": "list",
        "data": [r for r in rows if r["scope"] in mine],
        "shared_caps": "not shown: the global and shadow caps also bind this tenant's "
        "requests, but they total every tenant's spend (the operator's to see)",
    }
