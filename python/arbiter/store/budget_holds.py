"""Who holds budget reservations: each sidecar process's lease and its per-window ledger (both
backends; SQL with %s placeholders), and the sweep that releases a dead process's holds.

`budget_usage.reserved_usd` stays one aggregate per window, reserved by one conditional UPDATE
(accounts.py); the ledger beside it, written in the same transactions, says which process
holds how much of it. A process killed hard never settles; its lease stops being renewed, and
once it has expired any live process's sweep deletes the lease and the ledger rows and takes
exactly those amounts off `reserved_usd`. A hold is released once: by its settle or by a sweep,
whichever deletes or decrements its ledger row first (PostgreSQL: row locks, DELETE ...
RETURNING; SQLite: BEGIN IMMEDIATE serialises the writers).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from arbiter.store._hooks import StoreHooks

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

# A ledger row this close to 0 holds nothing (float rounding of + and - the same amounts).
_EMPTY_USD = 1e-12


def release_when(column: str) -> str:
    """The `WHEN ... END` end of a `CASE` taking one `%s` (given twice) off `column`. What
    is left below _EMPTY_USD is the residue of adding and subtracting the same amounts in
    another order (1.08e-19 after a + b - a - b), not money: it settles to exactly 0, so
    /arbiter/budgets never shows it and no cap check counts it."""
    return f"WHEN {column} - %s > {_EMPTY_USD!r} THEN {column} - %s ELSE 0 END"


# A settle's release from a window, only while the owner's ledger still has a row for it (a
# sweep that deleted the row released the hold already). One statement, as before the ledger.
SETTLE_HELD = (
    "UPDATE budget_usage SET reserved_usd = CASE "
    "WHEN NOT EXISTS (SELECT 1 FROM budget_holds WHERE owner = %s AND scope = %s "
    "AND window_start = %s) THEN reserved_usd "
    f"{release_when('reserved_usd')}, spent_usd = spent_usd + %s "
    "WHERE scope = %s AND window_start = %s"
)
_SUBTRACT = (
    f"UPDATE budget_usage SET reserved_usd = CASE {release_when('reserved_usd')} "
    "WHERE scope = %s AND window_start = %s"
)


def lease_statement(owner: str, expires_ts: float) -> tuple[str, list[object]]:
    """Take (or extend) `owner`'s lease (%s placeholders)."""
    return (
        "INSERT INTO budget_owners (owner, expires_ts) VALUES (%s, %s) "
        "ON CONFLICT (owner) DO UPDATE SET expires_ts = EXCLUDED.expires_ts",
        [owner, expires_ts],
    )


def lease_owner(hooks: StoreHooks, cur: Cursor, owner: str, expires_ts: float) -> None:
    """Take (or extend) `owner`'s lease inside the current transaction."""
    sql, params = lease_statement(owner, expires_ts)
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
        """Extend `owner`'s lease; False when it is gone (a sweep found it expired and released
        its holds: the owner must not go on under that name). Also drops its emptied rows."""
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE budget_owners SET expires_ts = %s WHERE owner = %s"),
                (expires_ts, owner),
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
        """Release the holds of every owner whose lease expired before `now` (given `owner`:
        that owner's, whatever its lease: a clean stop) and of any owner without a lease, in one
        transaction; returns the (owner, scope, window_start, usd) rows released."""
        with self._budget_tx() as cur:
            if owner is None:
                cur.execute(self._sql("DELETE FROM budget_owners WHERE expires_ts < %s"), (now,))
            else:
                cur.execute(self._sql("DELETE FROM budget_owners WHERE owner = %s"), (owner,))
            cur.execute(
                "DELETE FROM budget_holds WHERE owner NOT IN (SELECT owner FROM budget_owners) "
                "RETURNING owner, scope, window_start, reserved_usd"
            )
            rows = [(str(o), str(s), float(w), float(r)) for o, s, w, r in cur.fetchall()]
            per_window: dict[tuple[str, float], float] = defaultdict(float)
            for _, scope, window, usd in rows:
                if usd > 0:
                    per_window[(scope, window)] += usd
            for (scope, window), usd in sorted(per_window.items()):  # one lock order
                cur.execute(self._sql(_SUBTRACT), (usd, usd, scope, window))
        return rows

    def expired_budget_holds(self, now: float) -> dict[tuple[str, float], float]:
        """What owners whose lease expired (or who have none) still hold, per (scope, window):
        reserved in budget_usage until the next sweep releases it."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT h.scope, h.window_start, SUM(h.reserved_usd) FROM budget_holds h "
                    "LEFT JOIN budget_owners o ON o.owner = h.owner "
                    "WHERE o.owner IS NULL OR o.expires_ts < %s "
                    "GROUP BY h.scope, h.window_start"
                ),
                (now,),
            )
            rows = cur.fetchall()
        return {(str(s), float(w)): float(r) for s, w, r in rows if float(r) > _EMPTY_USD}
