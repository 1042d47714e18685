"""A capped request's reserve and its settle as one PostgreSQL statement each (accounts.py).

Each was one statement per cap and per step, every one a round trip to the server: 13 for a
request with one cap, 23 with three (bench/budget_roundtrip.py). Here every cap's conditional
upsert and the holds ledger's write are data-modifying CTEs of one statement, which keeps what
the statements did one by one:

- a cap is re-checked under its row lock: INSERT ... ON CONFLICT DO UPDATE ... WHERE evaluates
  the condition on the latest committed row it has locked, as the conditional UPDATE did, so
  racing replicas never reserve past a cap; a fresh window's row is inserted holding the amount
  only if the amount alone fits (the old INSERT of zeros + UPDATE of the same condition);
- rows are locked in the callers' order, budget rows before the ledger's: the ledger's CTE reads
  `(SELECT count(*) FROM <budget CTE>)`, which runs the budget upsert to its end first;
- a settle releases a window only while the owner's ledger still has its row, read in the
  statement's snapshot as the one-statement SETTLE_HELD read it, and otherwise adds only the
  cost beyond the hold (a sweep charged the hold as spent); the ledger's decrement skips a row
  a sweep deleted (DELETE ... RETURNING charged it);
- the settle's spend comes back by RETURNING, not by one SELECT per window after it.

A window named twice (two caps on one scope and window) cannot be upserted twice by one
statement: callers use the statement-per-cap path for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from arbiter.store.budget_holds import release_when

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor


def distinct(windows: Sequence[tuple[str, float]]) -> bool:
    return len(set(windows)) == len(windows)


def reserve(
    caps: Sequence[tuple[str, float, float]], amount: float, owner: str | None
) -> tuple[str, list[object]]:
    """The statement reserving `amount` under every cap (and adding it to `owner`'s ledger);
    it returns the (scope, window_start) of each cap it reserved under (`first_over`)."""
    values = ", ".join(["(%s, %s::float8, %s::float8)"] * len(caps))
    params: list[object] = [x for cap in caps for x in cap]
    params += [amount, amount]
    held = ""
    if owner is not None:
        held = (
            ", held AS (INSERT INTO budget_holds (owner, scope, window_start, reserved_usd) "
            "SELECT %s, scope, window_start, %s::float8 FROM reserved "
            "WHERE (SELECT count(*) FROM reserved) = %s "
            "ON CONFLICT (owner, scope, window_start) DO UPDATE "
            "SET reserved_usd = budget_holds.reserved_usd + EXCLUDED.reserved_usd)"
        )
        params += [owner, amount, len(caps)]
    return (
        f"WITH cap (scope, window_start, lim) AS (VALUES {values}), "
        "reserved AS (INSERT INTO budget_usage AS b (scope, window_start, spent_usd, reserved_usd) "
        "SELECT scope, window_start, 0, %s::float8 FROM cap WHERE %s::float8 <= lim "
        "ON CONFLICT (scope, window_start) DO UPDATE "
        "SET reserved_usd = b.reserved_usd + EXCLUDED.reserved_usd "
        "WHERE b.spent_usd + b.reserved_usd + EXCLUDED.reserved_usd <= (SELECT lim FROM cap "
        "WHERE cap.scope = b.scope AND cap.window_start = b.window_start) "
        f"RETURNING b.scope, b.window_start){held} "
        "SELECT scope, window_start FROM reserved",
        params,
    )


def first_over(cur: Cursor, caps: Sequence[tuple[str, float, float]]) -> int | None:
    """After `reserve`'s statement: the index of the first cap it would pass, or None. Given an
    index the caller must roll back (the other caps took the amount)."""
    took = {(str(s), float(w)) for s, w in cur.fetchall()}
    for i, (scope, window, _) in enumerate(caps):
        if (scope, window) not in took:
            return i
    return None


def settle(
    windows: Sequence[tuple[str, float]], reserved: float, actual: float, owner: str | None
) -> tuple[str, list[object]]:
    """The statement swapping `reserved` for `actual` in every window (with `owner`: releasing
    only what its ledger still holds, and taking it off the ledger; a window whose row a sweep
    deleted, charging the hold as spent, gets only what `actual` passes `reserved` by);
    `spent_after` reads it."""
    values = ", ".join(["(%s, %s::float8)"] * len(windows))
    params: list[object] = [x for w in windows for x in w]
    params.append(actual)
    swept = (
        "NOT EXISTS (SELECT 1 FROM budget_holds h WHERE h.owner = %s "
        "AND h.scope = b.scope AND h.window_start = b.window_start)"
    )
    unheld = ""
    if owner is not None:
        unheld = f"WHEN {swept} THEN b.reserved_usd "
        params.append(owner)
    params += [reserved, reserved]
    added = "EXCLUDED.spent_usd"
    if owner is not None:
        added = f"CASE WHEN {swept} THEN %s::float8 ELSE EXCLUDED.spent_usd END"
        params += [owner, max(actual - reserved, 0.0)]
    taken = ""
    if owner is not None:
        taken = (
            ", taken AS (UPDATE budget_holds SET reserved_usd = reserved_usd - %s::float8 "
            "WHERE owner = %s AND (scope, window_start) IN (SELECT scope, window_start FROM win) "
            "AND (SELECT count(*) FROM settled) > 0)"
        )
        params += [reserved, owner]
    return (
        f"WITH win (scope, window_start) AS (VALUES {values}), "
        "settled AS (INSERT INTO budget_usage AS b (scope, window_start, spent_usd, reserved_usd) "
        "SELECT scope, window_start, %s::float8, 0 FROM win "
        "ON CONFLICT (scope, window_start) DO UPDATE SET reserved_usd = CASE "
        f"{unheld}{release_when('b.reserved_usd')}, "
        f"spent_usd = b.spent_usd + {added} "
        f"RETURNING b.scope, b.window_start, b.spent_usd){taken} "
        "SELECT scope, window_start, spent_usd FROM settled",
        params,
    )


def spent_after(
    cur: Cursor, windows: Sequence[tuple[str, float]]
) -> list[tuple[str, float, float]]:
    """After `settle`'s statement: (scope, window, spent) in `windows`' order."""
    spent = {(str(s), float(w)): float(x) for s, w, x in cur.fetchall()}
    return [(scope, window, spent[(scope, window)]) for scope, window in windows]
