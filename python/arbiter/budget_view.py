"""What GET /arbiter/budgets shows: spend and in-flight reservations of each cap window open now.

The store keeps a row per scope and window forever (a daily cap per key: a row per key a day);
only the open windows (today's, this month's, the total) are where caps act, so only they are
read and shown, a page at a time (`limit`, `after`: a tenant with 100,000 keys' caps answered
every row), built off the event loop (`budget_view` runs in a thread).
What closed windows spent stays in /arbiter/timeseries and the decisions."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from arbiter import page_cursor
from arbiter.budget import SHARED_SCOPES, window_bounds
from arbiter.http_json import int_param
from arbiter.principal import Principal
from arbiter.store import Store

DEFAULT_LIMIT = 1000  # rows a page: a tenant with a key per user has a row per key and window
MAX_LIMIT = 1000
_WINDOWS = ("total", "day", "month")


def open_window_starts(now: float) -> list[float]:
    """The window_start of every window open at `now` (budget.window_bounds makes them all)."""
    return sorted({window_bounds(w, now)[0] for w in _WINDOWS})


def usd(x: float) -> float:
    """A money amount as /arbiter/budgets shows it: to 1e-9 USD, as the models' prices per token
    (listing.py) and shadow costs are, so sums of floats carry no 1e-17 residue into the API."""
    return round(float(x), 9) + 0.0  # + 0.0: -0.0 (a residue below 0) reads as 0.0


def budget_view(
    store: Store,
    principal: Principal,
    tenant: str | None,
    now: float | None = None,
    *,
    after: tuple[float, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The endpoint's body (blocking: call it in a thread), a page of `limit` rows after the
    cursor `after`, in (window_start, scope) order. A client key's own tenant and key;
    the admin's every scope, or with `tenant` that tenant's, its keys' and the shared caps
    (global, shadow) that bind its requests too. Each row says whether it is `shared`; a client
    key is not shown the shared ones (they total every tenant's spend) and is told so. The
    admin also sees `reserved_expired_usd`: what processes whose lease expired (killed with
    requests in flight) still hold in `reserved_usd` until a sweep charges it as spent."""
    now = time.time() if now is None else now  # the windows open at `now` (Budgets.now)
    scopes: list[str] | None = None
    keys_of = None
    if not principal.sees_all:
        scopes = [f"tenant:{principal.tenant}", f"key:{principal.key_id}"]
    elif tenant is not None:
        scopes, keys_of = [f"tenant:{tenant}", *SHARED_SCOPES], tenant
    got = store.budget_usage_page(
        open_window_starts(now), after, limit + 1, scopes=scopes, keys_of=keys_of
    )
    rows = [
        {
            **r,
            "spent_usd": usd(r["spent_usd"]),
            "reserved_usd": usd(r["reserved_usd"]),
            "shared": r["scope"] in SHARED_SCOPES,
        }
        for r in got[:limit]
    ]
    page: dict[str, Any] = {
        "object": "list",
        "data": rows,
        "last_id": encode_cursor(rows[-1]) if rows else None,
        "has_more": len(got) > limit,
    }
    if principal.sees_all:
        expired = store.expired_budget_holds(time.time())  # leases: the real clock's
        for r in rows:
            r["reserved_expired_usd"] = usd(expired.get((r["scope"], r["window_start"]), 0.0))
        return page
    page["shared_caps"] = (
        "not shown: the global and shadow caps also bind this tenant's "
        "requests, but they total every tenant's spend (the operator's to see)"
    )
    return page


def page_params(request: Request) -> tuple[tuple[float, str] | None, int]:
    """The query's cursor (`after`: a page's `last_id`) and `limit` (1-1000, default 1000)."""
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    raw = request.query_params.get("after")
    return (None if raw is None else decode_cursor(raw)), limit


def encode_cursor(row: dict[str, Any]) -> str:
    return page_cursor.encode([row["window_start"], row["scope"]])


def _window_and_scope(key: list[Any]) -> bool:
    return (
        len(key) == 2
        and isinstance(key[0], int | float)
        and not isinstance(key[0], bool)
        and isinstance(key[1], str)
    )


def decode_cursor(text: str) -> tuple[float, str]:
    """`after` back to its (window_start, scope), or the caller's 400 naming it. A row gone
    since (a window closed between pages) is no error: the page starts after where it was."""
    key = page_cursor.decode(text, _window_and_scope)
    return float(key[0]), key[1]
