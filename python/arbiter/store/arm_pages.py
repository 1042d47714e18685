"""The learned arms a page at a time, by key (`GET /arbiter/policy`; both backends, SQL with %s
placeholders): `WHERE (tenant, task, model) > cursor ORDER BY ... LIMIT n` walks the arms'
primary key (PostgreSQL: the byte-order index of migration 0064), so a page costs its rows, not
a scan of every arm as the in-memory heap over all keys did (96,000 arms: 96 pages, each
rescanning them all).

Keys are ordered by their bytes (code points), Python's own string order, on both backends:
SQLite's default BINARY collation; PostgreSQL's `COLLATE "C"` (the database's own collation
may sort by language rules), so the store's pages and the replica's unsynced arms merge in one
order (policy_view.page)."""

from __future__ import annotations

from typing import ClassVar

from arbiter.records import ArmStats
from arbiter.store._hooks import StoreHooks

ArmKey = tuple[str, str, str]


class ArmPagesMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_ro` and `_sql` hooks."""

    _BYTE_ORDER: ClassVar[str] = ""  # PostgreSQL: ' COLLATE "C"'

    def arms_page(self, tenant: str | None, after: ArmKey | None, limit: int) -> list[ArmStats]:
        """The first `limit` arms (or `tenant`'s) after key `after`, in key (byte) order."""
        c = self._BYTE_ORDER
        key = f"tenant{c}, task{c}, model{c}"
        where, params = [], []
        if tenant is not None:
            where.append(f"tenant{c} = %s")
            params.append(tenant)
        if after is not None:
            where.append(f"({key}) > (%s, %s, %s)")
            params.extend(after)
        cond = f"WHERE {' AND '.join(where)} " if where else ""
        sql = f"SELECT tenant, task, model, alpha, beta, n FROM arms {cond}ORDER BY {key} LIMIT %s"
        with self._ro() as cur:
            cur.execute(self._sql(sql), [*params, limit])
            return [ArmStats(*row) for row in cur.fetchall()]
