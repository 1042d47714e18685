"""The SQL both backends share: statements, migrations runner, row <-> dict mapping (the
summary reads are summary_reads.py's).

Backends supply connections and transactions (`_tx`, `_ro`) and their parameter style. This module
must not import a database driver.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import orjson

from arbiter.records import (
    SYSTEM_TENANT,
    ArmStats,
    Record,
    precedence,
    precedence_sql,
)
from arbiter.store import BATCH_ID_TTL_S, NoSuchCursor, rollup
from arbiter.store.accounts import AccountsMixin
from arbiter.store.arm_pages import ArmPagesMixin
from arbiter.store.budget_holds import BudgetHoldsMixin
from arbiter.store.cache_entries import CacheEntriesMixin
from arbiter.store.cache_semantic import CacheSemanticMixin
from arbiter.store.challengers import ChallengersMixin
from arbiter.store.discovered import DiscoveryMixin
from arbiter.store.latency import LatencyMixin
from arbiter.store.length_fits import LengthFitsMixin
from arbiter.store.policy_batches import PolicyBatchesMixin
from arbiter.store.price_factors import PriceFactorsMixin
from arbiter.store.prompt_fits import PromptFitsMixin
from arbiter.store.reported_costs import ReportedCostsMixin
from arbiter.store.rollup import DecisionFacts, GradeFacts
from arbiter.store.summary_reads import SummaryReadsMixin, tenant_conds
from arbiter.store.write_rows import WriteRows, encode_rows

log = logging.getLogger(__name__)
_NEWER_WARNED: set[tuple[str, int]] = set()  # (store, schema) already warned newer than known


def newer_warned() -> list[tuple[str, int]]:
    """The (store, schema) pairs this process warned newer than it knows."""
    return sorted(_NEWER_WARNED)


def note_newer_warned(pairs: Iterable[tuple[str, int]]) -> None:
    """Pairs another process warned for this one (a worker set's supervisor): not again."""
    _NEWER_WARNED.update(pairs)


MAX_LIMIT = 10_000  # a feed query never returns more rows than this
PRUNE_BATCH = 5_000  # rows per retention DELETE transaction
_PRUNE_EVERY = 256  # writes between two prunes of remembered batch ids
_CHUNK = 500  # ids per IN (...) list

# arms: three key columns, additive evidence columns, then the first-writer-wins slope center
_ARM_COLS = (
    "tenant", "task", "model", "alpha", "beta", "n",
    "slope_mean", "slope_precision", "slope_center", "slope_seen", "slope_center0",
)  # fmt: skip
_DCOLS = (
    "id", "ts", "tenant", "task", "mode", "chosen_model", "reason", "candidates", "attempts",
    "status", "cost_usd", "baseline_model", "baseline_cost_usd", "latency_ms", "prompt_tokens",
    "completion_tokens", "stream", "difficulty", "key_id", "error", "cost_source",
    "cache_kind", "cache_saved_usd", "cache_info", "usage_cost_usd",
)  # fmt: skip
_JSON_COLS = frozenset({"candidates", "attempts"})
_GCOLS = ("decision_id", "grader", "ts", "tenant", "task", "model", "score", "detail")
_ACOLS = ("id", "ts", "tenant", "kind", "message", "model", "task", "data")


class Cursor(Protocol):
    """What both drivers' cursors offer (sqlite3.Cursor, psycopg.Cursor)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]], /) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


def _values(cols: Sequence[str], json_ph: str) -> str:
    return ", ".join(json_ph if c in _JSON_COLS or c == "data" else "%s" for c in cols)


def _no_grades(arm: tuple[Any, ...]) -> tuple[Any, ...]:
    """An `arms` row (_ARM_COLS + updated_ts) with its grade deltas (alpha, beta, n) zeroed,
    its slope's kept."""
    return (*arm[:3], 0.0, 0.0, 0.0, *arm[6:])


@cache
def _statements(json_ph: str) -> dict[str, str]:
    dset = ", ".join(f"{c} = excluded.{c}" for c in _DCOLS[1:])
    gset = ", ".join(f"{c} = excluded.{c}" for c in _GCOLS[2:])
    return {
        "decision": f"INSERT INTO decisions ({', '.join(_DCOLS)}) VALUES "
        f"({_values(_DCOLS, json_ph)}) ON CONFLICT (id) DO UPDATE SET {dset}",
        "grade": f"INSERT INTO grades ({', '.join(_GCOLS)}) VALUES ({_values(_GCOLS, json_ph)}) "
        f"ON CONFLICT (decision_id, grader) DO UPDATE SET {gset} WHERE excluded.ts >= grades.ts",
        "alert": f"INSERT INTO alerts ({', '.join(_ACOLS)}) VALUES ({_values(_ACOLS, json_ph)}) "
        "ON CONFLICT (id) DO NOTHING",
        "arm": f"INSERT INTO arms ({', '.join(_ARM_COLS)}, updated_ts, sync_mark) "
        f"VALUES ({', '.join(['%s'] * (len(_ARM_COLS) + 1))}, {{mark}}) "
        "ON CONFLICT (tenant, task, model) DO UPDATE SET "
        + ", ".join(f"{c} = arms.{c} + excluded.{c}" for c in _ARM_COLS[3:-1])
        + ", slope_center0 = COALESCE(arms.slope_center0, excluded.slope_center0)"
        ", updated_ts = excluded.updated_ts, sync_mark = excluded.sync_mark",
        "batch": "INSERT INTO applied_batches (batch_id, ts) VALUES (%s, %s) "
        "ON CONFLICT (batch_id) DO NOTHING",
        "prune": "DELETE FROM applied_batches WHERE ts < %s",
        **{table: rollup.upsert_sql(table) for table in rollup.LEVELS},
    }


def load_migrations(backend: str) -> list[tuple[int, list[str]]]:
    """(version, statements) from migrations/<backend>/NNNN_name.sql, in version order."""
    out: list[tuple[int, list[str]]] = []
    for path in sorted((Path(__file__).parent / "migrations" / backend).glob("*.sql")):
        text = "\n".join(
            ln for ln in path.read_text("utf-8").splitlines() if not ln.lstrip().startswith("--")
        )
        stmts = [s.strip() for s in text.split(";") if s.strip()]
        out.append((int(path.name.split("_", 1)[0]), stmts))
    return out


def _loads(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


_UNREADABLE_WARNED: set[tuple[str, str]] = set()  # (column, row id) logged once per process
_NOT_JSON = object()


def _stored_json(
    value: Any, column: str, row_id: Any, unreadable: list[Any] | dict[str, Any] | None
) -> Any:
    """A stored JSON cell (decisions' candidates / attempts / cache_info, alerts' data) as its
    JSON value; one that is not JSON, or not the kind the readers take (a row edited by hand, a
    damaged file, SQLite's and cache_info's text columns take any text), reads as `unreadable`
    (its kind's empty value), logged once. One such row made every page of the feed that held
    it, its decision's own view and `arbiter export` fail (a 500, a traceback) for its one cell;
    the row itself stays as it is in the store."""
    try:
        parsed = _loads(value)
    except orjson.JSONDecodeError:
        parsed = _NOT_JSON
    kind = type(unreadable) if unreadable is not None else dict
    if (parsed is None and unreadable is None) or isinstance(parsed, kind):
        return parsed
    if len(_UNREADABLE_WARNED) < 10_000 and (column, str(row_id)) not in _UNREADABLE_WARNED:
        _UNREADABLE_WARNED.add((column, str(row_id)))
        why = "is not JSON" if parsed is _NOT_JSON else f"is not a JSON {kind.__name__}"
        log.warning("store: %s of %s %s; read as %r", column, row_id, why, unreadable)
    return unreadable


def _decision_facts(r: Sequence[Any]) -> DecisionFacts:
    """The rollup's view of a _DCOLS row (as DecisionFacts.of of its record)."""
    return DecisionFacts(r[1], r[2], r[3], r[5], r[9] == "failed", r[10], r[12], r[13], r[21],
                         r[22] or 0.0, r[4])  # fmt: skip


def _grade_facts(r: Sequence[Any]) -> GradeFacts:
    return GradeFacts(precedence(r[1]), r[6], r[2], r[3], r[4], r[5])


class SqlStore(
    AccountsMixin,
    ArmPagesMixin,
    BudgetHoldsMixin,
    CacheEntriesMixin,
    CacheSemanticMixin,
    ChallengersMixin,
    DiscoveryMixin,
    LatencyMixin,
    LengthFitsMixin,
    PolicyBatchesMixin,
    PriceFactorsMixin,
    PromptFitsMixin,
    ReportedCostsMixin,
    SummaryReadsMixin,
):
    """Everything but connections: subclasses set `backend`, `url`, `_JSON` and the hooks below."""

    backend: Literal["sqlite", "postgres"]
    url: str
    _JSON: ClassVar[str] = "%s"  # placeholder for a JSON column (postgres: "%s::jsonb")
    _writes: int = 0

    # -- hooks ----------------------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[Cursor]:
        """A write transaction: commit on exit, roll back on error, driver errors -> StoreError."""
        raise NotImplementedError

    def _ro(self) -> AbstractContextManager[Cursor]:
        """A read-only snapshot (same error mapping)."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        """Adapt `%s` placeholders to the driver."""
        return text

    def _migrate_tx(self) -> AbstractContextManager[Cursor]:
        """migrate()'s write transaction (sqlite: its lock waited for in steps a Ctrl-C stops)."""
        return self._tx()

    def _migration_lock(self, cur: Cursor) -> None:
        """Serialise migrate() across processes inside the transaction (sqlite: BEGIN IMMEDIATE)."""

    # -- schema ---------------------------------------------------------------------------
    def migrate(self, to: int | None = None) -> int:
        steps = load_migrations(self.backend)
        with self._migrate_tx() as cur:
            self._migration_lock(cur)
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_ts DOUBLE PRECISION NOT NULL)"
            )
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            current = int(cur.fetchone()[0])
            for version, stmts in steps:
                if version <= current or (to is not None and version > to):
                    continue
                for stmt in stmts:
                    cur.execute(stmt)
                cur.execute(
                    self._sql("INSERT INTO schema_version (version, applied_ts) VALUES (%s, %s)"),
                    (version, time.time()),
                )
                log.info("store %s: applied migration %04d", self.url, version)
                current = version
            # a write, though nothing is pending: a store that opens read-only (a file or folder
            # without write permission, a read-only replica) refused every record later, while
            # the sidecar served and said it was healthy; now it fails here, at start
            cur.execute("DELETE FROM schema_version WHERE 1 = 0")
        if steps and current > steps[-1][0] and (self.url, current) not in _NEWER_WARNED:
            # once a process: `serve` migrates before it listens and again as the app starts
            _NEWER_WARNED.add((self.url, current))
            log.warning("store %s is at schema %d, newer than this code knows", self.url, current)
        return current

    def schema_version(self) -> int:
        """The schema's version without changing anything: 0 for a store never migrated (no
        Arbiter tables), so a read-only command can say so instead of `no such table`."""
        exists = (
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            if self.backend == "sqlite"
            else "SELECT count(*) FROM (SELECT to_regclass('schema_version') AS t) r "
            "WHERE r.t IS NOT NULL"
        )
        with self._ro() as cur:
            cur.execute(exists)
            if not int(cur.fetchone()[0]):
                return 0
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            return int(cur.fetchone()[0])

    # -- writes ---------------------------------------------------------------------------
    def write(
        self,
        records: Sequence[Record],
        *,
        batch_id: str | None = None,
        replica: str | None = None,
        logged_at: float | None = None,
    ) -> None:
        self.write_rows(
            encode_rows(records), batch_id=batch_id, replica=replica, logged_at=logged_at
        )

    def write_rows(
        self,
        rows: WriteRows,
        *,
        batch_id: str | None = None,
        replica: str | None = None,
        logged_at: float | None = None,
    ) -> None:
        """`write` of records already turned into rows (`encode_rows`): what a writer process
        receives from the serving process. `replica`: the policy sync's, whose arm deltas are
        logged too (store/arm_resets.py: a reset counts what others wrote since its change),
        in the bucket of `logged_at` (this process's clock; None: now)."""
        if rows.empty:
            return
        st = _statements(self._JSON)
        self._writes += 1
        with self._tx() as cur:
            if batch_id is not None:
                cur.execute(self._sql(st["batch"]), (batch_id, rows.ts))
                if cur.rowcount == 0:
                    log.info("store %s: batch %s was already written; skipped", self.url, batch_id)
                    return
                if self._writes % _PRUNE_EVERY == 1:
                    cur.execute(self._sql(st["prune"]), (rows.ts - BATCH_ID_TTL_S,))
            up = rollup.Upserts([], [], [], [], [])
            if rows.decisions or rows.grades:
                ids = sorted({d[0] for d in rows.decisions} | {g[0] for g in rows.grades})
                self._lock_ids(cur, ids)
                up = rollup.plan(
                    [(d[0], _decision_facts(d)) for d in rows.decisions],
                    [(g[0], g[1], _grade_facts(g)) for g in rows.grades],
                    *self._old_state(cur, ids),
                )
            arms = rows.arms
            if replica is not None and logged_at is not None and arms:
                # an outage's backlog from before a change another replica reset meanwhile:
                # its grades are the evidence the reset dropped (store/arm_resets.py)
                before = self._reset_after(cur, arms, logged_at)
                if before:
                    arms = [_no_grades(r) if tuple(r[:3]) in before else r for r in arms]
            for name, batch in (
                ("decision", rows.decisions),
                ("grade", rows.grades),
                ("alert", rows.alerts),
                ("arm", arms),
                # every writer upserts the levels in this order, each sorted: no lock cycles
                ("rollups", up.minute),
                ("rollups_hour", up.hour),
                ("rollups_global", up.global_),
                ("rollup_totals", up.totals),
                ("rollups_learning", up.learning),
            ):
                if batch:
                    sql = st[name].replace("{mark}", self._SYNC_MARK) if name == "arm" else st[name]
                    cur.executemany(self._sql(sql), batch)
            if replica is not None and arms:  # after the arms' row locks, as a reset
                self._log_arms(cur, replica, arms, logged_at)
            if rows.alerts_once:  # last: their locks after every row lock, as in every writer
                self._write_alerts_once(cur, rows.alerts_once, st["alert"])

    def _claim_batches(self, cur: Cursor, ids: Sequence[str]) -> set[str]:
        """Record the policy batches `ids` as applied (store/policy_batches.py); returns those
        not applied before (a retry of one whose commit landed finds it)."""
        st = _statements(self._JSON)
        seen: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(
                self._sql(f"SELECT batch_id FROM applied_batches WHERE batch_id IN ({marks})"),
                chunk,
            )
            seen.update(r[0] for r in cur.fetchall())
        fresh = [b for b in ids if b not in seen]
        now = time.time()
        if fresh:
            cur.executemany(self._sql(st["batch"]), [(b, now) for b in fresh])
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 1:
            cur.execute(self._sql(st["prune"]), (now - BATCH_ID_TTL_S,))
        return set(fresh)

    def _upsert_arms(self, cur: Cursor, rows: Sequence[tuple[Any, ...]]) -> None:
        sql = _statements(self._JSON)["arm"].replace("{mark}", self._SYNC_MARK)
        cur.executemany(self._sql(sql), rows)

    def _write_alerts_once(
        self, cur: Cursor, alerts: Sequence[tuple[tuple[Any, ...], float, str, str]], insert: str
    ) -> None:
        """Store each alert unless one of its kind, tenant and model (and `data[by]`, when it
        names one) is stored from the window before it (AlertRecord.once_every_s, once_by): one
        per deployment, whichever worker or replica raised it first. PostgreSQL: under an
        advisory lock per key (taken in key order), so two writers cannot both find none;
        SQLite's writes are one at a time already."""
        for row, window, by, value in sorted(
            alerts, key=lambda a: (a[0][3], a[0][2], a[0][5] or "", a[3])
        ):
            ts, tenant, kind, model = row[1], row[2], row[3], row[5] or ""
            if self.backend == "postgres":
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"alert-once:{kind}:{tenant}:{model}:{value}",),
                )
            sql = (
                "SELECT 1 FROM alerts WHERE ts > %s AND kind = %s AND tenant = %s "
                "AND COALESCE(model, '') = %s"
            )
            args: tuple[Any, ...] = (ts - window, kind, tenant, model)
            if by:  # the data column: jsonb on PostgreSQL, JSON text on SQLite
                json_of = "data->>%s" if self.backend == "postgres" else "json_extract(data, %s)"
                sql += f" AND COALESCE({json_of}, '') = %s"
                args += (by if self.backend == "postgres" else f'$."{by}"', value)
            cur.execute(self._sql(sql + " LIMIT 1"), args)
            if cur.fetchone() is None:
                cur.execute(self._sql(insert), row)

    def _lock_ids(self, cur: Cursor, ids: Sequence[str]) -> None:
        """Serialise writers of the same decisions (the rollup reads their previous state)."""

    def _old_state(
        self, cur: Cursor, ids: Sequence[str]
    ) -> tuple[dict[str, DecisionFacts], dict[str, dict[str, GradeFacts]]]:
        old_d: dict[str, DecisionFacts] = {}
        old_g: dict[str, dict[str, GradeFacts]] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cur.execute(
                self._sql(
                    "SELECT id, ts, tenant, task, chosen_model, status, cost_usd, "
                    "baseline_cost_usd, latency_ms, cache_kind, cache_saved_usd, mode "
                    f"FROM decisions WHERE id IN ({marks})"
                ),
                chunk,
            )
            for r in cur.fetchall():
                old_d[r[0]] = DecisionFacts(r[1], r[2], r[3], r[4], r[5] == "failed", r[6], r[7],
                                            r[8], r[9], float(r[10] or 0.0), r[11])  # fmt: skip
            cur.execute(
                self._sql(
                    "SELECT decision_id, grader, score, ts, tenant, task, model "
                    f"FROM grades WHERE decision_id IN ({marks})"
                ),
                chunk,
            )
            for r in cur.fetchall():
                old_g.setdefault(r[0], {})[r[1]] = GradeFacts(precedence(r[1]), *r[2:7])
        return old_d, old_g

    # -- reads ----------------------------------------------------------------------------
    def load_arms(self, tenant: str | None = None) -> list[ArmStats]:
        where, params = ("WHERE tenant = %s", [tenant]) if tenant is not None else ("", [])
        sql = f"SELECT {', '.join(_ARM_COLS)} FROM arms {where} ORDER BY 1, 2, 3"
        with self._ro() as cur:
            cur.execute(self._sql(sql), params)
            return [ArmStats(*row) for row in cur.fetchall()]

    def load_arms_since(self, since: Any) -> tuple[list[ArmStats], Any]:
        """The arms changed since the sync that returned `since` (None: every arm), and the
        mark to pass next time (opaque). Rows may come twice (a later write of the same arm);
        never missed, whatever order concurrent writers commit in."""
        cols = ", ".join(_ARM_COLS)
        with self._ro() as cur:
            mark = self._sync_cursor(cur)  # before the rows, in the same transaction
            if since is None:
                cur.execute(self._sql(f"SELECT {cols} FROM arms"))
            else:
                where, params = self._changed_since(since)
                cur.execute(self._sql(f"SELECT {cols} FROM arms WHERE {where}"), params)
            return [ArmStats(*row) for row in cur.fetchall()], mark

    # the mark a write stamps on the arms rows it changes (see the backends)
    _SYNC_MARK = "0"

    def _sync_cursor(self, cur: Cursor) -> Any:
        """Where the next incremental sync starts, read before the rows."""
        raise NotImplementedError

    def _changed_since(self, since: Any) -> tuple[str, list[Any]]:
        """The condition (and its parameters) on `sync_mark` for rows changed since `since`."""
        raise NotImplementedError

    def decisions(
        self,
        *,
        tenant: str | None,
        limit: int,
        before_ts: float | None = None,
        after_id: str | None = None,
    ) -> list[dict[str, Any]]:
        limit = max(0, min(int(limit), MAX_LIMIT))
        if limit == 0:
            return []
        conds, params = tenant_conds(tenant=tenant)
        if after_id is not None:
            # keyset paging on (ts, id): rows sharing the cursor row's ts are neither skipped
            # nor repeated at a page edge
            conds.append("(ts, id) < (SELECT ts, id FROM decisions WHERE id = %s)")
            params.append(after_id)
        elif before_ts is not None and not math.isnan(before_ts):
            conds.append("ts < %s")
            params.append(before_ts)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        sql = (
            f"SELECT {', '.join(_DCOLS)} FROM decisions {where} ORDER BY ts DESC, id DESC LIMIT %s"
        )
        with self._ro() as cur:
            cur.execute(self._sql(sql), [*params, limit])
            return self._with_best_grade(cur, cur.fetchall())

    def _with_best_grade(self, cur: Cursor, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Decision rows -> dicts with their best grade (`grader`, `grade`), looked up by id.

        A second query by primary key, not a join: a join lets the planner hash the whole
        grades table to serve one page (PostgreSQL did, at 1M decisions)."""
        items = [_decision_dict(r) for r in rows]
        best: dict[str, tuple[int, str, float]] = {}
        for ident, grader, score in self._grades_of(cur, [it["id"] for it in items]):
            rank = precedence(grader)
            if ident not in best or rank > best[ident][0]:
                best[ident] = (rank, grader, score)
        for it in items:
            _, it["grader"], it["grade"] = best.get(it["id"], (0, None, None))
        return items

    def _grades_of(self, cur: Cursor, ids: Sequence[str]) -> list[Any]:
        """(decision_id, grader, score) of every grade of these decisions."""
        rows: list[Any] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            cur.execute(
                self._sql(
                    "SELECT decision_id, grader, score FROM grades "
                    f"WHERE decision_id IN ({', '.join(['%s'] * len(chunk))})"
                ),
                chunk,
            )
            rows += cur.fetchall()
        return rows

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        with self._ro() as cur:
            cur.execute(
                self._sql(f"SELECT {', '.join(_DCOLS)} FROM decisions WHERE id = %s"),
                (decision_id,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                self._sql(
                    "SELECT grader, score, ts, model, detail FROM grades "
                    f"WHERE decision_id = %s ORDER BY {precedence_sql('grader')} DESC"
                ),
                (decision_id,),
            )
            grades = [
                {"grader": g[0], "score": g[1], "ts": g[2], "model": g[3], "detail": g[4]}
                for g in cur.fetchall()
            ]
        item = _decision_dict(row)
        item["grade"] = grades[0]["score"] if grades else None
        item["grader"] = grades[0]["grader"] if grades else None
        item["grade_detail"] = grades[0]["detail"] if grades else None  # why, by that signal
        item["grades"] = grades
        return item

    def alerts(
        self,
        *,
        tenant: str | None,
        limit: int,
        operator: bool = False,
        after_id: str | None = None,
    ) -> list[dict[str, Any]]:
        limit = max(0, min(int(limit), MAX_LIMIT))
        conds, params = tenant_conds(tenant=tenant)
        if tenant is not None and operator:
            conds, params = ["tenant IN (%s, %s)"], [tenant, SYSTEM_TENANT]
        with self._ro() as cur:
            if after_id is not None:
                # the cursor row, among those this caller reads: another tenant's alert id
                # is no cursor (nor a way to learn that it exists)
                seen = " AND ".join(["id = %s", *conds])
                cur.execute(
                    self._sql(f"SELECT ts, id FROM alerts WHERE {seen}"), [after_id, *params]
                )
                at = cur.fetchone()
                if at is None:
                    raise NoSuchCursor(after_id)
                # keyset paging on (ts, id), as decisions page
                conds, params = [*conds, "(ts, id) < (%s, %s)"], [*params, at[0], at[1]]
            where = f"WHERE {' AND '.join(conds)}" if conds else ""
            sql = (
                f"SELECT {', '.join(_ACOLS)} FROM alerts {where} ORDER BY ts DESC, id DESC LIMIT %s"
            )
            cur.execute(self._sql(sql), [*params, limit])
            rows = cur.fetchall()
        return [
            {
                **dict(zip(_ACOLS[:-1], r[:-1], strict=True)),
                "data": _stored_json(r[-1], "alert data", r[0], {}),
            }
            for r in rows
        ]

    def iter_decisions(
        self,
        *,
        since: float,
        tenant: str | None = None,
        page: int = 1000,
        until: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Decisions with since <= ts (< until), oldest first, in pages (keyset on ts, id)."""
        conds, params = tenant_conds(tenant=tenant)
        if until is not None:
            conds.append("ts < %s")
            params.append(until)
        after: tuple[float, str] | None = None
        while True:
            where = [*conds, "ts >= %s"]
            args: list[Any] = [*params, since]
            if after is not None:
                where.append("(ts > %s OR (ts = %s AND id > %s))")
                args += [after[0], after[0], after[1]]
            sql = (
                f"SELECT {', '.join(_DCOLS)} FROM decisions WHERE {' AND '.join(where)} "
                "ORDER BY ts, id LIMIT %s"
            )
            with self._ro() as cur:
                cur.execute(self._sql(sql), [*args, page])
                items = self._with_best_grade(cur, cur.fetchall())
            yield from items
            if len(items) < page:
                return
            after = (items[-1]["ts"], items[-1]["id"])

    def count_decisions_before(self, ts: float) -> int:
        with self._ro() as cur:
            cur.execute(self._sql("SELECT count(*) FROM decisions WHERE ts < %s"), (ts,))
            return int(cur.fetchone()[0])

    def prune(
        self,
        *,
        rollups_before: float | None = None,
        records_before: float | None = None,
        batch: int = PRUNE_BATCH,
    ) -> dict[str, int]:
        """Retention: drop time-series rollups and/or raw records older than the given times.

        Deleted `batch` rows per transaction, so writers wait for one short DELETE at a time,
        never for the whole backlog of a large table. Rollups are sums of their own; pruning
        raw records never changes them, and the all-time totals (stats) are never pruned.
        Hourly rows go only when their whole hour is before the cut."""
        deleted: dict[str, int] = {}
        if rollups_before is not None:
            hour = float(int(rollups_before) // rollup.HOUR * rollup.HOUR)
            deleted["rollups"] = self._delete_older("rollups", "minute", rollups_before, batch)
            deleted["rollups_hour"] = self._delete_older("rollups_hour", "hour", hour, batch)
            deleted["rollups_global"] = self._delete_older(
                "rollups_global", "start", rollups_before, batch, "span = 60"
            ) + self._delete_older("rollups_global", "start", hour, batch, "span = 3600")
            deleted["rollups_learning"] = self._delete_older(
                "rollups_learning", "start", rollups_before, batch, "span = 60"
            ) + self._delete_older("rollups_learning", "start", hour, batch, "span = 3600")
        if records_before is not None:
            for table in ("decisions", "grades", "alerts"):
                deleted[table] = self._delete_older(table, "ts", records_before, batch)
        return deleted

    _ROW = "rowid"  # the backend's physical row id (SQLite rowid, PostgreSQL ctid)

    def _delete_older(
        self, table: str, col: str, before: float, batch: int, also: str = "1 = 1"
    ) -> int:
        sql = self._sql(
            f"DELETE FROM {table} WHERE {self._ROW} IN "
            f"(SELECT {self._ROW} FROM {table} WHERE {col} < %s AND {also} LIMIT %s)"
        )
        total = 0
        while True:
            with self._tx() as cur:
                cur.execute(sql, (before, max(int(batch), 1)))
                n = cur.rowcount
            total += n
            if n < batch:
                return total


def _decision_dict(row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(_DCOLS, row[: len(_DCOLS)], strict=True))
    item["candidates"] = _stored_json(item["candidates"], "candidates", item["id"], [])
    item["attempts"] = _stored_json(item["attempts"], "attempts", item["id"], [])
    item["stream"] = bool(item["stream"])
    item["cache_info"] = _stored_json(item["cache_info"], "cache_info", item["id"], None)
    return item
