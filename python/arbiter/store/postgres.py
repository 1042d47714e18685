"""PostgreSQL backend (psycopg 3 + psycopg_pool): the shared store several replicas write to.

Connections come from a small pool that checks one before use when it sat idle for
`ping_idle_s` (1 s); a call that finds its connection dropped (a server restart) has the idle
ones swept in the background, so a restart costs one failed call and the gate's 1 s cooldown
below, not a backoff through every dropped connection; a connection used a
moment ago is handed out as is (a check before every call was one more round trip and one more
empty transaction on the server per store call: half of all commits under load). Migrations
serialise on a transaction-scoped advisory lock. While the server is unreachable, calls fail at
once (one probe at a time tries again), so callers that fall back on a failure (auth's cached
keys, the recorder's backlog) never wait on the pool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ClassVar, Literal, cast

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from arbiter.store import StoreError
from arbiter.store._hooks import BUDGET_LOCK_WAIT_MS
from arbiter.store._sql import Cursor, SqlStore
from arbiter.store.pg_pool import CappedReconnectPool
from arbiter.url_redaction import redact_url

log = logging.getLogger(__name__)

_PERMANENT = (psycopg.IntegrityError, psycopg.DataError)
_MIGRATE_LOCK = "arbiter.store.migrate"
# how long a migration waits for another process's (migrations are serialised by an advisory
# lock): a migration stuck elsewhere (a stopped process, a session left open) held every
# `serve` and `migrate` at start for ever, without a word; a real one takes seconds
# (the default of `store.migrate_lock_wait_s`)
MIGRATE_LOCK_WAIT_S = 120.0
_ID_LOCK_SPACE = 0x4152  # first key of the (int, int) advisory locks on decision ids


class _Gate:
    """Fail fast while the server is known to be down: after a connection failure, calls raise at
    once for `cooldown_s`; then one caller probes (others still fail fast for `probe_s`)."""

    def __init__(self, cooldown_s: float, probe_s: float) -> None:
        self._cooldown = cooldown_s
        self._probe = probe_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._until = 0.0

    def enter(self, url: str) -> None:
        with self._lock:
            if self._down_since is None:
                return
            now = time.monotonic()
            if now < self._until:
                raise StoreError(
                    f"postgres {url} unreachable for {now - self._down_since:.1f}s; retrying soon"
                )
            self._until = now + self._probe  # this caller probes; the rest keep failing fast

    def failed(self) -> None:
        with self._lock:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
            self._until = now + self._cooldown

    def ok(self) -> None:
        if self._down_since is not None:
            with self._lock:
                self._down_since = None
                self._until = 0.0


def _unreachable(err: psycopg.Error) -> bool:
    """No server to talk to: pool timeout / refused connection (no SQLSTATE), connection
    exceptions (08xxx) or the server shutting down (57P0x)."""
    if not isinstance(err, psycopg.OperationalError):
        return False
    state = err.sqlstate
    return state is None or state.startswith(("08", "57P"))


def _wrap(err: psycopg.Error, what: str) -> StoreError:
    return StoreError(f"postgres {what} failed: {type(err).__name__}: {err}",
                      transient=not isinstance(err, _PERMANENT))  # fmt: skip


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Each new pooled connection: JSON columns parsed by orjson, as SQLite's rows are (the
    standard json module was a sixth of an export page's time: candidates and attempts)."""
    set_json_loads(orjson.loads, conn)


def _end_autocommit(conn: psycopg.Connection[Any]) -> None:
    """Give a read's connection back to the pool as writes expect it: not in autocommit. One that
    cannot be switched back (broken, or left in a transaction) is closed: the pool drops it."""
    if conn.closed:
        return
    if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        conn.autocommit = False
    else:
        conn.close()


class PostgresStore(SqlStore):
    backend: Literal["sqlite", "postgres"] = "postgres"
    _JSON: ClassVar[str] = "%s::jsonb"
    _BYTE_ORDER: ClassVar[str] = ' COLLATE "C"'  # arm_pages.py: Python's string order

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 5.0,
        connect_timeout_s: int = 5,
        ping_idle_s: float = 1.0,
        migrate_lock_wait_s: float = MIGRATE_LOCK_WAIT_S,
    ) -> None:
        self.url = redact_url(url)
        self._migrate_lock_wait_s = migrate_lock_wait_s
        self._ping_idle_s = ping_idle_s
        self._returned: dict[int, float] = {}  # id(connection) -> when a call last gave it back
        self._returned_lock = threading.Lock()
        extra: dict[str, Any] = {}
        if "connect_timeout" not in conninfo_to_dict(url):
            extra["connect_timeout"] = connect_timeout_s
        if "application_name" not in conninfo_to_dict(url):
            extra["application_name"] = "arbiter"
        self._pool = CappedReconnectPool(
            make_conninfo(url, **extra),
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            check=self._check_if_idle,
            configure=_configure,
            name="arbiter-store",
            open=False,
        )
        self._pool.open(wait=False)  # never block start-up; the first call waits `timeout_s`
        self._gate = _Gate(cooldown_s=1.0, probe_s=timeout_s + connect_timeout_s)
        self._sweeping = threading.Lock()  # one background sweep of dropped connections

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    def _check_if_idle(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before handing `conn` out: ping only a connection idle for a while
        (the server may have restarted or dropped it meanwhile)."""
        last = self._returned.get(id(conn))
        if last is None or time.monotonic() - last >= self._ping_idle_s:
            ConnectionPool.check_connection(conn)

    def _given_back(self, conn: psycopg.Connection[Any]) -> None:
        now = time.monotonic()
        with self._returned_lock:  # calls give connections back from many threads
            if len(self._returned) > 64:  # connections the pool closed: forget them
                self._returned = {
                    k: t for k, t in self._returned.items() if now - t < self._ping_idle_s
                }
            self._returned[id(conn)] = now

    def _bound_lock_wait(self, cur: Cursor) -> None:
        # A budget row locked elsewhere (a replica stopped mid-transaction, maintenance) made
        # every capped request wait as long as the lock was held, with no bound: the store was
        # not down, so the outage allowance never applied. Past this wait it is an error, and
        # the budget goes on from the allowance (budget.py) instead of hanging the request.
        cur.execute(f"SET LOCAL lock_timeout = {BUDGET_LOCK_WAIT_MS}")

    _BUDGET_ONE_STATEMENT: ClassVar[bool] = True
    _STORE_NOW: ClassVar[str | None] = (
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
    )

    @contextmanager
    def _budget_statements(
        self, statements: Sequence[tuple[str, Sequence[object]]], *, commit: bool
    ) -> Iterator[Cursor]:
        # Pipeline mode: BEGIN, the lock bound, the statements (and the COMMIT) go to the server
        # together and come back at the pipeline's one sync: a round trip, not one each. BEGIN
        # is ours (autocommit): psycopg's own would be synced alone, a round trip of its own. An
        # error in any of them is raised there and the transaction rolls back, as without.
        with self._call(read=False) as cur:
            conn = cast("psycopg.Cursor[Any]", cur).connection
            conn.autocommit = True
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    self._bound_lock_wait(conn.cursor())
                    for sql, params in statements[:-1]:
                        conn.execute(sql, params)
                    cur.execute(*statements[-1])
                    if commit:
                        conn.execute("COMMIT")
                yield cur
                conn.commit()  # nothing to send when it committed above
            except BaseException:
                if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with suppress(psycopg.Error):  # a broken connection: closed below
                        conn.rollback()
                raise
            finally:
                _end_autocommit(conn)  # left in a transaction (broken): closed

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        with self._call(read=False) as cur:
            yield cur

    @contextmanager
    def _ro(self) -> Iterator[Cursor]:
        """A read, in autocommit: each statement sees what had committed when it began, exactly
        as in the READ COMMITTED transaction it used to be, without that transaction's BEGIN
        and COMMIT round trips (two of a feed page's four; most of a read's p95 on a busy host)."""
        with self._call(read=True) as cur:
            yield cur

    @contextmanager
    def _call(self, *, read: bool) -> Iterator[Cursor]:
        self._gate.enter(self.url)
        try:
            with self._pool.connection() as conn:
                if read:
                    conn.autocommit = True
                try:
                    with conn.cursor() as cur:
                        yield cur
                finally:
                    if read:
                        _end_autocommit(conn)
                self._given_back(conn)
        except psycopg.Error as err:
            if _unreachable(err):
                self._gate.failed()
                if not isinstance(err, PoolTimeout):  # a live connection broke: its siblings too
                    self._sweep_idle()
            raise _wrap(err, "transaction") from err
        self._gate.ok()

    def _sweep_idle(self) -> None:
        """Check the pool's idle connections in the background, replacing the dropped ones.

        A server restart, a failover or `pg_terminate_backend` drops every pooled connection at
        once. Left in the pool, each was found dead only when a call drew it, and psycopg_pool
        backs off 1, 2, 4 s between dead ones: the gate's probe ran into the pool's timeout and
        the store stayed "down" for seconds after the server was back. One sweep at a time, off
        the caller's thread (a check on a cut network may wait for TCP to give up)."""
        if not self._sweeping.acquire(blocking=False):
            return
        threading.Thread(target=self._sweep, name="arbiter-pg-sweep", daemon=True).start()

    def _sweep(self) -> None:
        try:
            self._pool.check()
        except Exception:  # a closed pool (shutting down): nothing to sweep
            log.debug("pool sweep failed", exc_info=True)
        finally:
            self._sweeping.release()

    _ROW = "ctid"  # the physical row id retention deletes by

    # Concurrent writers commit in any order: each row carries the id of the transaction that
    # last wrote it. A reader notes its snapshot: every transaction below xmax and not in
    # progress then had finished (its rows are seen by the read that follows); next time it
    # fetches rows of transactions at or above xmax, or in progress then. (Not "at or above
    # xmin": a long transaction anywhere on the server would make every sync refetch.)
    _SYNC_MARK = "pg_current_xact_id()::text::bigint"

    def _sync_cursor(self, cur: Cursor) -> tuple[int, list[int]]:
        cur.execute(
            "SELECT pg_snapshot_xmax(s)::text::bigint, "
            "ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) "
            "FROM pg_current_snapshot() AS s"
        )
        xmax, running = cur.fetchone()
        return int(xmax), [int(x) for x in running]

    def _changed_since(self, since: Any) -> tuple[str, list[Any]]:
        xmax, running = since
        return "(sync_mark >= %s OR sync_mark = ANY(%s))", [int(xmax), list(running)]

    def _numeric_rows(self, cur: Cursor, sql: str, params: Sequence[Any]) -> list[Any]:
        # binary: no text to parse (the 24 h per-minute series is 1,440 rows of 26 numbers)
        cast(psycopg.Cursor[Any], cur).execute(sql, params, binary=True)
        return cur.fetchall()

    def _grades_of(self, cur: Cursor, ids: Sequence[str]) -> list[Any]:
        # one query and one parameter (an array) for a whole page: an IN list of 1,000
        # placeholders is two queries and a long statement to parse on both ends
        if not ids:
            return []
        cur.execute(
            "SELECT decision_id, grader, score FROM grades WHERE decision_id = ANY(%s)",
            (list(ids),),
        )
        return list(cur.fetchall())

    def _migration_lock(self, cur: Cursor) -> None:
        cur.execute(f"SET LOCAL lock_timeout = {max(1, int(self._migrate_lock_wait_s * 1000))}")
        try:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATE_LOCK,))
        except psycopg.errors.LockNotAvailable as err:
            raise StoreError(
                f"another process has held the store's migration lock for "
                f"{self._migrate_lock_wait_s:g} s (a migration running, or one stuck: see "
                f"pg_locks' advisory locks; store.migrate_lock_wait_s)"
            ) from err
        cur.execute("SET LOCAL lock_timeout = 0")  # the migration's own statements: no bound

    def _lock_ids(self, cur: Cursor, ids: Sequence[str]) -> None:
        # One advisory lock per decision id, taken in a fixed order: two replicas grading the same
        # decision at once must not both compute its rollup change from the same previous state.
        cur.execute(
            "SELECT pg_advisory_xact_lock(%s, h) FROM "
            "(SELECT DISTINCT hashtext(x) AS h FROM unnest(%s::text[]) AS x ORDER BY h) s",
            (_ID_LOCK_SPACE, list(ids)),
        )

    def close(self) -> None:
        self._pool.close(timeout=5.0)
