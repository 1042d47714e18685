"""Who holds budget reservations: each sidecar process's lease and its per-window ledger (both
backends; SQL with %s placeholders), and the sweep that charges a dead process's holds.

`budget_usage.reserved_usd` stays one aggregate per window, reserved by one conditional UPDATE
(accounts.py); the ledger beside it, written in the same transactions, says which process
holds how much of it. A process killed hard never settles; its lease stops being renewed, and
once it has expired any live process's sweep deletes the lease and the ledger rows and moves
exactly those amounts from `reserved_usd` to `spent_usd`: charged, not released, because the
calls they covered may well have been billed (released, a crash-looping sidecar passed a cap
without bound). A hold leaves `reserved_usd` once: by its settle or by a sweep, whichever
deletes or decrements its ledger row first (PostgreSQL: row locks, DELETE ... RETURNING;
SQLite: BEGIN IMMEDIATE serialises the writers). A settle that finds its row swept adds only
what its request cost beyond the hold the sweep charged (`SETTLE_HELD`).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arbiter.store._hooks import StoreHooks

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

# A ledger row this close to 0 holds nothing (float rounding of + and - the same amounts).
_EMPTY_USD = 1e-12


def on_store_clock(store_now: str | None, ts: float) -> tuple[str, list[object]]:
    """A time of the caller's clock as SQL on the store's clock (`store_now`: its expression;
    None: the caller's own, SQLite's processes sharing one host): the caller's reading says
    only how far from its now `ts` lies. Leases written and swept on each replica's own clock
    let one 5 minutes ahead charge every live replica's holds in flight as spent (discovery's
    lease too: store/discovered.py)."""
    if store_now is None:
        return "%s", [ts]
    return f"({store_now} + %s)", [ts - time.time()]


def release_when(column: str) -> str:
    """The `WHEN ... END` end of a `CASE` taking one `%s` (given twice) off `column`. What
    is left below _EMPTY_USD is the residue of adding and subtracting the same amounts in
    another order (1.08e-19 after a + b - a - b), not money: it settles to exactly 0, so
    /arbiter/budgets never shows it and no cap check counts it."""
    return f"WHEN {column} - %s > {_EMPTY_USD!r} THEN {column} - %s ELSE 0 END"


# A settle's release from a window, only while the owner's ledger still has a row for it. A
# sweep that deleted the row took the hold off `reserved_usd` and charged it as spent already:
# then the settle adds only the cost beyond the hold (given as its own parameter, never below
# 0), or the request would count twice. One statement, as before the ledger.
_SWEPT = (
    "NOT EXISTS (SELECT 1 FROM budget_holds WHERE owner = %s AND scope = %s AND window_start = %s)"
)
SETTLE_HELD = (
    f"UPDATE budget_usage SET reserved_usd = CASE WHEN {_SWEPT} THEN reserved_usd "
    f"{release_when('reserved_usd')}, spent_usd = spent_usd + CASE WHEN {_SWEPT} THEN %s "
    "ELSE %s END WHERE scope = %s AND window_start = %s"
)


def settle_held_params(
    owner: str, scope: str, window: float, reserved: float, actual: float
) -> tuple[object, ...]:
    """SETTLE_HELD's parameters: release `reserved` and add `actual`, or (the row swept, the
    hold charged) add only what `actual` passes `reserved` by."""
    beyond = max(actual - reserved, 0.0)
    swept = (owner, scope, window)
    return (*swept, reserved, reserved, *swept, beyond, actual, scope, window)


# A sweep's move of a window's swept holds: `charged` from reserved to spent, `released` only
# off reserved (a clean stop's own leftovers); %s = the sum twice, charged, scope, window.
_SWEEP_WINDOW = (
    f"UPDATE budget_usage SET reserved_usd = CASE {release_when('reserved_usd')}, "
    "spent_usd = spent_usd + %s WHERE scope = %s AND window_start = %s"
)


def lease_statement(
    owner: str, expires_ts: float, store_now: str | None
) -> tuple[str, list[object]]:
    """Take (or extend) `owner`'s lease (%s placeholders), `expires_ts` on the caller's clock."""
    at, params = on_store_clock(store_now, expires_ts)
    return (
        f"INSERT INTO budget_owners (owner, expires_ts) VALUES (%s, {at}) "
        "ON CONFLICT (owner) DO UPDATE SET expires_ts = EXCLUDED.expires_ts",
        [owner, *params],
    )


def lease_owner(hooks: StoreHooks, cur: Cursor, owner: str, expires_ts: float) -> None:
    """Take (or extend) `owner`'s lease inside the current transaction."""
    sql, params = lease_statement(owner, expires_ts, hooks._STORE_NOW)
    cur.execute(hooks._sql(sql), params)


def add_holds(
    hooks: StoreHooks, cur: Cursor, owner: str, windows: Sequence[tuple[str, float]], amount: float
) -> None:
    """Add `amount` per window to `owner`'s ledger: one statement, inside the reserve's
    transaction (a window named twice, by two caps, holds twice, as budget_usage does)."""
    counts = Counter(windows)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(counts))
    params: list[object] = []
    for (scope, window), n in counts.items():
        params += [owner, scope, window, amount * n]
    cur.execute(
        hooks._sql(
            f"INSERT INTO budget_holds (owner, scope, window_start, reserved_usd) VALUES {values} "
            "ON CONFLICT (owner, scope, window_start) DO UPDATE "
            "SET reserved_usd = budget_holds.reserved_usd + EXCLUDED.reserved_usd"
        ),
        params,
    )


def take_holds(
    hooks: StoreHooks,
    cur: Cursor,
    owner: str,
    windows: Sequence[tuple[str, float]],
    amount: float,
) -> None:
    """Take `amount` per window off `owner`'s ledger, inside the settle's transaction and after
    its budget rows (the reserve's lock order). A row a sweep deleted stays deleted. One
    statement, unless two caps name the same window (then one per multiplicity)."""
    by_count: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for key, n in Counter(windows).items():
        by_count[n].append(key)
    for n, keys in by_count.items():
        match = " OR ".join(["(scope = %s AND window_start = %s)"] * len(keys))
        params: list[object] = [amount * n, owner]
        for scope, window in keys:
            params += [scope, window]
        cur.execute(
            hooks._sql(
                "UPDATE budget_holds SET reserved_usd = reserved_usd - %s "
                f"WHERE owner = %s AND ({match})"
            ),
            params,
        )


class BudgetHoldsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_budget_tx`, `_ro` and `_sql` hooks."""

    def open_budget_lease(self, owner: str, expires_ts: float) -> None:
        """Take (or extend) `owner`'s lease: before it reserves anything."""
        with self._tx() as cur:
            lease_owner(self, cur, owner, expires_ts)

    def renew_budget_lease(self, owner: str, expires_ts: float) -> bool:
        """Extend `owner`'s lease; False when it is gone (a sweep found it expired and charged
        its holds: the owner must not go on under that name). Also drops its emptied rows."""
        at, params = on_store_clock(self._STORE_NOW, expires_ts)
        with self._tx() as cur:
            cur.execute(
                self._sql(f"UPDATE budget_owners SET expires_ts = {at} WHERE owner = %s"),
                (*params, owner),
            )
            if cur.rowcount == 0:
                return False
            cur.execute(
                self._sql(
                    "DELETE FROM budget_holds WHERE owner = %s "
                    "AND reserved_usd < %s AND reserved_usd > %s"
                ),
                (owner, _EMPTY_USD, -_EMPTY_USD),
            )
        return True

    def sweep_budget_holds(
        self, now: float, owner: str | None = None
    ) -> list[tuple[str, str, float, float]]:
        """Charge the holds of every owner whose lease expired before `now`, and of any owner
        without a lease, as spent (they may have been billed: module docstring), in one
        transaction; returns the (owner, scope, window_start, usd) rows it took. Given `owner`
        (a clean stop: it settled every charge it had), that owner's lease goes whatever its
        expiry and its own leftover holds are released, not charged (nothing called under
        them); others' lease-less rows are still charged."""
        with self._budget_tx() as cur:
            if owner is None:
                at, params = on_store_clock(self._STORE_NOW, now)
                cur.execute(self._sql(f"DELETE FROM budget_owners WHERE expires_ts < {at}"), params)
            else:
                cur.execute(self._sql("DELETE FROM budget_owners WHERE owner = %s"), (owner,))
            cur.execute(
                "DELETE FROM budget_holds WHERE owner NOT IN (SELECT owner FROM budget_owners) "
                "RETURNING owner, scope, window_start, reserved_usd"
            )
            rows = [(str(o), str(s), float(w), float(r)) for o, s, w, r in cur.fetchall()]
            moved: dict[tuple[str, float], list[float]] = defaultdict(lambda: [0.0, 0.0])
            for who, scope, window, usd in rows:
                if usd > 0:
                    moved[(scope, window)][0 if who == owner else 1] += usd
            for (scope, window), (released, charged) in sorted(moved.items()):  # one lock order
                both = released + charged
                cur.execute(self._sql(_SWEEP_WINDOW), (both, both, charged, scope, window))
        return rows

    def expired_budget_holds(self, now: float) -> dict[tuple[str, float], float]:
        """What owners whose lease expired (or who have none) still hold, per (scope, window):
        reserved in budget_usage until the next sweep charges it as spent."""
        at, params = on_store_clock(self._STORE_NOW, now)
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT h.scope, h.window_start, SUM(h.reserved_usd) FROM budget_holds h "
                    "LEFT JOIN budget_owners o ON o.owner = h.owner "
                    f"WHERE o.owner IS NULL OR o.expires_ts < {at} "
                    "GROUP BY h.scope, h.window_start"
                ),
                params,
            )
            rows = cur.fetchall()
        return {(str(s), float(w)): float(r) for s, w, r in rows if float(r) > _EMPTY_USD}
