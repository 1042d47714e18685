"""Client keys and budget windows in the store (both backends; SQL with %s placeholders).

Budget reservations are atomic in the database: one conditional UPDATE per cap inside one
transaction (PostgreSQL re-checks the condition under the row lock; SQLite's BEGIN IMMEDIATE
serialises writers), so replicas sharing a store can never together reserve past a cap. On
PostgreSQL those statements are one (budget_one_statement.py: a round trip each). Given an
`owner` (a sidecar process, store/budget_holds.py), the same transaction also writes what that
process holds to its ledger, so a dead process's reservations can be released.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from arbiter.store import NoSuchCursor, budget_one_statement
from arbiter.store._hooks import StoreHooks
from arbiter.store.budget_holds import (
    SETTLE_HELD,
    add_holds,
    lease_owner,
    lease_statement,
    release_when,
    settle_held_params,
    take_holds,
)

log = logging.getLogger(__name__)
_UNREADABLE: set[str] = set()  # models whose stored override was logged unreadable

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

_KEY_COLS = "id, tenant, name, secret_hash, created_ts, expires_ts, revoked_ts"


class _OverCap(Exception):
    def __init__(self, scope: str, window: float, spent: float, reserved: float) -> None:
        super().__init__(scope)
        self.scope, self.window, self.spent, self.reserved = scope, window, spent, reserved


class AccountsMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    # -- keys -------------------------------------------------------------------------------
    def create_key(
        self,
        *,
        key_id: str,
        tenant: str,
        name: str,
        secret_hash: str,
        created_ts: float,
        expires_ts: float | None,
    ) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO api_keys ({_KEY_COLS}) VALUES (%s, %s, %s, %s, %s, %s, NULL)"
                ),
                (key_id, tenant, name, secret_hash, created_ts, expires_ts),
            )

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        with self._ro() as cur:
            cur.execute(self._sql(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = %s"), (key_id,))
            row = cur.fetchone()
        return _key_dict(row) if row else None

    def list_keys(
        self, tenant: str | None = None, *, limit: int | None = None, after_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Keys in creation order (then id); `limit` rows after the key `after_id` (a page's
        cursor: NoSuchCursor when it names no key, or one of another tenant than `tenant`)."""
        conds: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            conds.append("tenant = %s")
            params.append(tenant)
        with self._ro() as cur:
            if after_id is not None:
                cur.execute(
                    self._sql(
                        "SELECT created_ts, id FROM api_keys WHERE "
                        + " AND ".join(["id = %s", *conds])
                    ),
                    [after_id, *params],
                )
                at = cur.fetchone()
                if at is None:
                    raise NoSuchCursor(after_id)
                conds.append("(created_ts, id) > (%s, %s)")
                params += [at[0], at[1]]
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            sql = f"SELECT {_KEY_COLS} FROM api_keys{where} ORDER BY created_ts, id"
            if limit is not None:
                sql += " LIMIT %s"
                params.append(limit)
            cur.execute(self._sql(sql), params)
            rows = cur.fetchall()
        return [_key_dict(r) for r in rows]

    def revoked_among(self, key_ids: Sequence[str]) -> set[str]:
        """Which of `key_ids` are revoked (by primary key, 500 a statement)."""
        out: set[str] = set()
        ids = list(key_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join(["%s"] * len(part))
            sql = f"SELECT id FROM api_keys WHERE id IN ({marks}) AND revoked_ts IS NOT NULL"
            with self._ro() as cur:
                cur.execute(self._sql(sql), part)
                out.update(str(r[0]) for r in cur.fetchall())
        return out

    def revoke_key(self, key_id: str, ts: float) -> bool:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE api_keys SET revoked_ts = %s WHERE id = %s AND revoked_ts IS NULL"
                ),
                (ts, key_id),
            )
            return cur.rowcount > 0

    # -- budgets ----------------------------------------------------------------------------
    def reserve_budget(
        self,
        caps: Sequence[tuple[str, float, float]],
        amount: float,
        owner: str | None = None,
        lease_until: float | None = None,
    ) -> tuple[str, float, float, float] | None:
        """Reserve `amount` under every (scope, window_start, limit) or none of them, and add it
        to `owner`'s ledger (one more statement; `lease_until`: take its lease first, when the
        process could not at start-up). Returns None on success, else (scope, window_start,
        spent, reserved) of the first cap it would pass (the window too: one scope may have a
        day cap and a month cap, and the refusal names the one passed)."""
        try:
            if (
                self._BUDGET_ONE_STATEMENT
                and caps
                and budget_one_statement.distinct([(s, w) for s, w, _ in caps])
            ):
                statements = [budget_one_statement.reserve(caps, amount, owner)]
                if owner is not None and lease_until is not None:
                    statements.insert(0, lease_statement(owner, lease_until, self._STORE_NOW))
                with self._budget_statements(statements, commit=False) as cur:
                    over = budget_one_statement.first_over(cur, caps)
                    if over is not None:
                        raise self._over_cap(cur, caps[over][0], caps[over][1])  # rolls back all
                return None
            with self._budget_tx() as cur:
                if owner is not None and lease_until is not None:
                    lease_owner(self, cur, owner, lease_until)
                for scope, window, limit in caps:
                    cur.execute(
                        self._sql(
                            "INSERT INTO budget_usage (scope, window_start, spent_usd, "
                            "reserved_usd) VALUES (%s, %s, 0, 0) "
                            "ON CONFLICT (scope, window_start) DO NOTHING"
                        ),
                        (scope, window),
                    )
                    cur.execute(
                        self._sql(
                            "UPDATE budget_usage SET reserved_usd = reserved_usd + %s "
                            "WHERE scope = %s AND window_start = %s "
                            "AND spent_usd + reserved_usd + %s <= %s"
                        ),
                        (amount, scope, window, amount, limit),
                    )
                    if cur.rowcount == 0:
                        raise self._over_cap(cur, scope, window)  # rolls back all
                if owner is not None and caps:
                    add_holds(self, cur, owner, [(s, w) for s, w, _ in caps], amount)
        except _OverCap as over:
            return over.scope, over.window, over.spent, over.reserved
        return None

    def _over_cap(self, cur: Cursor, scope: str, window: float) -> _OverCap:
        cur.execute(
            self._sql(
                "SELECT spent_usd, reserved_usd FROM budget_usage "
                "WHERE scope = %s AND window_start = %s"
            ),
            (scope, window),
        )
        row = cur.fetchone()  # none: a fresh window the amount alone would pass (one statement)
        spent, reserved = row if row is not None else (0.0, 0.0)
        return _OverCap(scope, window, float(spent), float(reserved))

    def settle_budget(
        self,
        windows: Sequence[tuple[str, float]],
        reserved: float,
        actual: float,
        owner: str | None = None,
    ) -> list[tuple[str, float, float]]:
        """Swap a reservation for the real cost; returns (scope, window, spent) after it. The
        window's row may not exist yet (spend reserved from a replica's outage allowance).
        With an `owner`, only what its ledger still holds is released: a window whose hold a
        sweep already charged as spent (the owner's lease expired) releases nothing a second
        time and adds only what `actual` passes `reserved` by (never less than the sweep did)
        The budget rows are locked before the ledger's, in the reserve's order: a settle and a
        reserve of the same process never wait on each other crosswise (a deadlock)."""
        out: list[tuple[str, float, float]] = []
        ledger = owner is not None and reserved > 0
        if self._BUDGET_ONE_STATEMENT and windows and budget_one_statement.distinct(windows):
            settle = budget_one_statement.settle(
                windows, reserved, actual, owner if ledger else None
            )
            with self._budget_statements([settle], commit=True) as cur:
                return budget_one_statement.spent_after(cur, windows)
        with self._budget_tx() as cur:
            for scope, window in windows:
                cur.execute(
                    self._sql(
                        "INSERT INTO budget_usage (scope, window_start, spent_usd, "
                        "reserved_usd) VALUES (%s, %s, 0, 0) "
                        "ON CONFLICT (scope, window_start) DO NOTHING"
                    ),
                    (scope, window),
                )
                if ledger:
                    assert owner is not None
                    held = settle_held_params(owner, scope, window, reserved, actual)
                    cur.execute(self._sql(SETTLE_HELD), held)
                else:
                    cur.execute(
                        self._sql(
                            "UPDATE budget_usage SET reserved_usd = "
                            f"CASE {release_when('reserved_usd')}, spent_usd = spent_usd + %s "
                            "WHERE scope = %s AND window_start = %s"
                        ),
                        (reserved, reserved, actual, scope, window),
                    )
                cur.execute(
                    self._sql(
                        "SELECT spent_usd FROM budget_usage WHERE scope = %s AND window_start = %s"
                    ),
                    (scope, window),
                )
                row = cur.fetchone()
                out.append((scope, window, float(row[0]) if row else 0.0))
            if ledger:
                assert owner is not None
                take_holds(self, cur, owner, windows, reserved)
        return out

    def budget_usage(
        self, scope: str = "", window_starts: Sequence[float] | None = None
    ) -> list[dict[str, Any]]:
        """The rows of `scope` ("" every scope's), and, given, of those windows only."""
        if window_starts is not None and not window_starts:
            return []  # (an empty IN list is not SQL)
        sql, params = budget_usage_query(scope, window_starts)
        with self._ro() as cur:
            cur.execute(self._sql(sql), params)
            rows = sorted(cur.fetchall(), key=lambda r: (r[0], r[1]))
        return [
            {"scope": r[0], "window_start": r[1], "spent_usd": r[2], "reserved_usd": r[3]}
            for r in rows
        ]

    def budget_usage_page(
        self,
        window_starts: Sequence[float],
        after: tuple[float, str] | None,
        limit: int,
        *,
        scopes: Sequence[str] | None = None,
        keys_of: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows of `window_starts`, in (window_start, scope) order, after the row
        `after`: one read per window down the index budget_usage_window_scope (migration 0065),
        so a page costs its rows, not every scope's. `scopes` and/or the keys of tenant
        `keys_of` (`key:<id>` scopes) filter the rows."""
        out: list[dict[str, Any]] = []
        for start in sorted(window_starts):
            if after is not None and start < after[0]:
                continue
            if len(out) >= limit:
                break
            sql, params = budget_page_query(start, after, limit - len(out), scopes, keys_of)
            with self._ro() as cur:
                cur.execute(self._sql(sql), params)
                out += [
                    {"scope": r[0], "window_start": r[1], "spent_usd": r[2], "reserved_usd": r[3]}
                    for r in cur.fetchall()
                ]
        return out

    # -- registry overrides -------------------------------------------------------------------
    def set_model_override(self, model: str, patch: dict[str, Any], ts: float) -> dict[str, Any]:
        """Merge `patch` into the model's stored override (one transaction); returns the result.

        The row is locked before it is read: under PostgreSQL's READ COMMITTED two admins'
        merges (on replicas sharing the store) both read the old patch and the second write
        dropped the first's field. The no-op upsert takes the row lock whether or not the model
        has an override yet; the SELECT after it, a new snapshot, sees what the other committed.
        """
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO registry_overrides (model, patch, updated_ts) "
                    "VALUES (%s, '{}', %s) ON CONFLICT (model) "
                    "DO UPDATE SET updated_ts = registry_overrides.updated_ts"
                ),
                (model, ts),
            )
            cur.execute(
                self._sql("SELECT patch FROM registry_overrides WHERE model = %s"), (model,)
            )
            row = cur.fetchone()
            merged = {**(orjson.loads(row[0]) if row else {}), **patch}
            cur.execute(
                self._sql(
                    "INSERT INTO registry_overrides (model, patch, updated_ts) VALUES (%s, %s, %s) "
                    "ON CONFLICT (model) DO UPDATE SET patch = EXCLUDED.patch, "
                    "updated_ts = EXCLUDED.updated_ts"
                ),
                (model, orjson.dumps(merged).decode(), ts),
            )
        return merged

    def model_overrides(self) -> dict[str, dict[str, Any]]:
        """Each model's stored patch; one whose text is not a JSON object (a hand-edited or
        damaged row) is left out, logged: it failed every replica's registry refresh, so its
        start-up, for one row."""
        with self._ro() as cur:
            cur.execute("SELECT model, patch FROM registry_overrides")
            rows = cur.fetchall()
        out: dict[str, dict[str, Any]] = {}
        for model, text in rows:
            try:
                patch = orjson.loads(text)
            except orjson.JSONDecodeError:
                patch = None
            if isinstance(patch, dict):
                out[model] = patch
            elif len(_UNREADABLE) < 10_000 and model not in _UNREADABLE:  # once, not every sync
                _UNREADABLE.add(model)
                log.warning("store: the override of model %r is not a JSON object; ignored", model)
        return out


def _key_dict(row: Sequence[Any]) -> dict[str, Any]:
    return dict(
        zip(
            ("id", "tenant", "name", "secret_hash", "created_ts", "expires_ts", "revoked_ts"),
            row,
            strict=True,
        )
    )


def budget_usage_query(
    scope: str, window_starts: Sequence[float] | None
) -> tuple[str, tuple[Any, ...]]:
    """budget_usage()'s SELECT: by scope (the primary key's lead) and/or by window (index
    budget_usage_window, migration 0056: the open windows of every scope, which
    /arbiter/budgets reads, without a scan of every closed window's row).

    The scope is matched exactly: it was a `LIKE scope%` prefix, whose `_` (a tenant's name may
    hold one) and `%` were wildcards, which read a longer sibling's rows too (`tenant:acme`
    read `tenant:acmeX`'s), and which neither backend could answer from the primary key (SQLite's
    LIKE is case-insensitive, PostgreSQL's needs a "C" collation): a scan of every row."""
    where: list[str] = []
    params: list[Any] = []
    if scope:
        where.append("scope = %s")
        params.append(scope)
    if window_starts is not None:
        where.append(f"window_start IN ({', '.join(['%s'] * len(window_starts))})")
        params.extend(window_starts)
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    # no ORDER BY (the caller sorts the few rows): ordered by the primary key, SQLite's planner
    # chose to walk the whole key over the window index to spare itself a sort
    sql = f"SELECT scope, window_start, spent_usd, reserved_usd FROM budget_usage{cond}"
    return sql, tuple(params)


def budget_page_query(
    start: float,
    after: tuple[float, str] | None,
    limit: int,
    scopes: Sequence[str] | None,
    keys_of: str | None,
) -> tuple[str, tuple[Any, ...]]:
    """budget_usage_page()'s SELECT for one window: a range of the (window_start, scope) index
    from the cursor's scope (when the cursor is in this window), filtered by scope."""
    where = ["window_start = %s"]
    params: list[Any] = [start]
    if after is not None and after[0] == start:
        where.append("scope > %s")
        params.append(after[1])
    either: list[str] = []
    if scopes is not None:
        either.append(f"scope IN ({', '.join(['%s'] * len(scopes))})" if scopes else "1 = 0")
        params.extend(scopes)
    if keys_of is not None:
        either.append("scope IN (SELECT 'key:' || id FROM api_keys WHERE tenant = %s)")
        params.append(keys_of)
    if either:
        where.append(f"({' OR '.join(either)})")
    sql = (
        "SELECT scope, window_start, spent_usd, reserved_usd FROM budget_usage "
        f"WHERE {' AND '.join(where)} ORDER BY scope LIMIT %s"
    )
    return sql, (*params, limit)
