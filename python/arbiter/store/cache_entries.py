"""Response-cache entries in the store (both backends; SQL with %s placeholders).

The store is what replicas share: each keeps an in-memory front (arbiter.cache.service) and
reads through to here on a local miss (one primary-key lookup). Deletions and purges leave an
invalidation row that the other replicas poll and apply to their fronts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arbiter.store._hooks import StoreHooks

if TYPE_CHECKING:
    from arbiter.store._sql import Cursor

CACHE_COLS = (
    "id", "tenant", "context_key", "model", "task", "answer", "cost_usd", "decision_id",
    "created_ts", "expires_ts", "used_ts", "hits", "user_text", "embedding",
)  # fmt: skip
_LISTED = CACHE_COLS[:-1]  # the admin list leaves the vector out
_MAX_PAGE = 1000
# an invalidation made at or after an entry was created covers it: its delete by id, or a purge
# of every entry / its tenant / its model. A replica writes an entry behind its answer, so the
# row may land after an operator's delete or purge (on this replica or another) that meant it:
# such a row is never written, nor read back (two transactions at once can still both commit)
_COVERED = (
    "EXISTS (SELECT 1 FROM cache_invalidations i WHERE i.ts >= {created} AND (i.entry_id = {id} "
    "OR (i.entry_id IS NULL AND (i.tenant IS NULL OR i.tenant = {tenant}) "
    "AND (i.model IS NULL OR i.model = {model}))))"
)
_ROW_COVERED = _COVERED.format(
    created="cache_entries.created_ts", id="cache_entries.id", tenant="cache_entries.tenant",
    model="cache_entries.model",
)  # fmt: skip
_PUT_COVERED = "SELECT " + _COVERED.format(created="%s", id="%s", tenant="%s", model="%s")


class CacheEntriesMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro` and `_sql` hooks."""

    def cache_put(self, row: Sequence[Any], *, keep: int | None = None) -> None:
        """Upsert one entry (a row in CACHE_COLS order), unless an invalidation already covers
        it (_COVERED); with `keep`, then delete the least recently used entries beyond that
        many."""
        cols = ", ".join(CACHE_COLS)
        update = ", ".join(f"{c} = excluded.{c}" for c in CACHE_COLS[1:])
        at = {c: row[i] for i, c in enumerate(CACHE_COLS)}
        with self._tx() as cur:
            cur.execute(
                self._sql(_PUT_COVERED),
                (at["created_ts"], at["id"], at["tenant"], at["model"]),
            )
            if cur.fetchone()[0]:
                return
            cur.execute(
                self._sql(
                    f"INSERT INTO cache_entries ({cols}) VALUES "
                    f"({', '.join(['%s'] * len(CACHE_COLS))}) "
                    f"ON CONFLICT (id) DO UPDATE SET {update}"
                ),
                tuple(row),
            )
            if keep is not None:
                cur.execute(
                    self._sql(
                        "DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries "
                        "ORDER BY used_ts DESC, id DESC LIMIT 100000 OFFSET %s)"
                    ),
                    (keep,),
                )

    def cache_get(self, entry_id: str, tenant: str, now: float) -> tuple[Any, ...] | None:
        """The live entry `entry_id` of `tenant` (CACHE_COLS order), or None."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(CACHE_COLS)} FROM cache_entries "
                    f"WHERE id = %s AND tenant = %s AND expires_ts > %s AND NOT {_ROW_COVERED}"
                ),
                (entry_id, tenant, now),
            )
            row = cur.fetchone()
        return tuple(row) if row is not None else None

    def cache_since(self, since: float, now: float, limit: int) -> list[tuple[Any, ...]]:
        """Live entries created at or after `since`, newest first (start-up load, and what
        other replicas added)."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(CACHE_COLS)} FROM cache_entries "
                    f"WHERE created_ts >= %s AND expires_ts > %s AND NOT {_ROW_COVERED} "
                    "ORDER BY created_ts DESC, id DESC LIMIT %s"
                ),
                (since, now, limit),
            )
            return [tuple(r) for r in cur.fetchall()]

    def cache_touch(self, used: Mapping[str, tuple[int, float]]) -> None:
        """Add hits and move each entry's last use: {id: (hits, used_ts)}."""
        if not used:
            return
        with self._tx() as cur:
            cur.executemany(
                self._sql(
                    "UPDATE cache_entries SET hits = hits + %s, "
                    "used_ts = CASE WHEN used_ts > %s THEN used_ts ELSE %s END WHERE id = %s"
                ),
                [(n, ts, ts, entry_id) for entry_id, (n, ts) in sorted(used.items())],
            )

    def cache_list(
        self, *, tenant: str | None, limit: int, after_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries newest first, paged by `after_id` (the previous page's last id)."""
        conds: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            conds.append("tenant = %s")
            params.append(tenant)
        if after_id is not None:
            conds.append(
                "(created_ts, id) < (SELECT created_ts, id FROM cache_entries WHERE id = %s)"
            )
            params.append(after_id)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(_LISTED)} FROM cache_entries {where} "
                    "ORDER BY created_ts DESC, id DESC LIMIT %s"
                ),
                [*params, max(1, min(int(limit), _MAX_PAGE))],
            )
            return [dict(zip(_LISTED, r, strict=True)) for r in cur.fetchall()]

    def cache_exists(self, entry_id: str) -> bool:
        """Whether `entry_id` names an entry (live or expired): the admin list's cursor."""
        with self._ro() as cur:
            cur.execute(self._sql("SELECT 1 FROM cache_entries WHERE id = %s"), (entry_id,))
            return cur.fetchone() is not None

    def cache_delete(self, entry_id: str, tenant: str | None, ts: float) -> bool:
        """Invalidate one entry (of `tenant`, when given); True when it existed."""
        with self._tx() as cur:
            if tenant is None:
                cur.execute(self._sql("DELETE FROM cache_entries WHERE id = %s"), (entry_id,))
            else:
                cur.execute(
                    self._sql("DELETE FROM cache_entries WHERE id = %s AND tenant = %s"),
                    (entry_id, tenant),
                )
            gone = cur.rowcount > 0
            self._invalidated(cur, ts, entry_id, None, None)
        return gone

    def cache_delete_source(self, decision_id: str, ts: float) -> int:
        """Invalidate the entries whose answer came from decision `decision_id`; how many."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT id FROM cache_entries WHERE decision_id = %s"), (decision_id,)
            )
            ids = [r[0] for r in cur.fetchall()]
            for entry_id in ids:
                cur.execute(self._sql("DELETE FROM cache_entries WHERE id = %s"), (entry_id,))
                self._invalidated(cur, ts, entry_id, None, None)
        return len(ids)

    def cache_purge(self, *, tenant: str | None, model: str | None, ts: float) -> int:
        """Delete every entry (of `tenant` and/or `model` when given); how many."""
        conds, params = [], []
        for col, value in (("tenant", tenant), ("model", model)):
            if value is not None:
                conds.append(f"{col} = %s")
                params.append(value)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        with self._tx() as cur:
            cur.execute(self._sql(f"DELETE FROM cache_entries {where}"), params)
            count = cur.rowcount
            self._invalidated(cur, ts, None, tenant, model)
        return max(count, 0)

    def _invalidated(
        self, cur: Cursor, ts: float, entry_id: str | None, tenant: str | None, model: str | None
    ) -> None:
        cur.execute(
            self._sql(
                "INSERT INTO cache_invalidations (id, ts, entry_id, tenant, model) "
                "VALUES (%s, %s, %s, %s, %s)"
            ),
            (uuid.uuid4().hex, ts, entry_id, tenant, model),
        )

    def cache_invalidations(self, since: float) -> list[tuple[str, float, Any, Any, Any]]:
        """(id, ts, entry_id, tenant, model) with ts >= since, oldest first."""
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, ts, entry_id, tenant, model FROM cache_invalidations "
                    "WHERE ts >= %s ORDER BY ts"
                ),
                (since,),
            )
            return [tuple(r) for r in cur.fetchall()]

    def cache_prune(self, *, now: float, keep: int, invalidations_before: float) -> int:
        """Delete expired entries, the least recently used beyond `keep`, and old
        invalidation rows; how many entries went."""
        with self._tx() as cur:
            cur.execute(self._sql("DELETE FROM cache_entries WHERE expires_ts <= %s"), (now,))
            count = max(cur.rowcount, 0)
            cur.execute(
                self._sql(
                    "DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries "
                    "ORDER BY used_ts DESC, id DESC LIMIT 100000 OFFSET %s)"
                ),
                (keep,),
            )
            count += max(cur.rowcount, 0)
            cur.execute(
                self._sql("DELETE FROM cache_invalidations WHERE ts < %s"),
                (invalidations_before,),
            )
        return count

    def cache_stats(self, *, tenant: str | None) -> dict[str, Any]:
        """Hits served from the cache (decisions of mode `cache`) and what they saved, over all
        history (the totals rollup, store/rollup.py)."""
        where, params = ("WHERE tenant = %s", [tenant]) if tenant is not None else ("", [])
        with self._ro() as cur:
            cur.execute(
                self._sql(
                    "SELECT SUM(cache_exact_hits), SUM(cache_exact_saved_usd), "
                    "SUM(cache_semantic_hits), SUM(cache_semantic_saved_usd) "
                    f"FROM rollup_totals {where}"
                ),
                params,
            )
            r = cur.fetchone()
        rows = {"exact": (int(r[0] or 0), float(r[1] or 0.0)),
                "semantic": (int(r[2] or 0), float(r[3] or 0.0))}  # fmt: skip
        exact, semantic = rows.get("exact", (0, 0.0)), rows.get("semantic", (0, 0.0))
        return {
            "hits": exact[0],
            "semantic_hits": semantic[0],
            "saved_usd": exact[1] + semantic[1],
            "saved_usd_exact": exact[1],
            "saved_usd_semantic": semantic[1],
        }
