"""SQLite backend (stdlib sqlite3): one file in WAL mode, a connection per thread, one writer.

`sqlite://:memory:` (tests) shares a single connection behind a lock. Several processes may open
the same file; SQLite's own locking (BEGIN IMMEDIATE + busy_timeout) serialises their writes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from arbiter.errors import ConfigError
from arbiter.store import StoreError
from arbiter.store._hooks import BUDGET_LOCK_WAIT_MS
from arbiter.store._sql import Cursor, SqlStore
from arbiter.store_url import BadStoreUrl, sqlite_path

log = logging.getLogger(__name__)

BEGIN_STEP_MS = 100  # a migration's wait for the write lock, in steps this long (Ctrl-C between)

# The data itself was refused: retrying the same rows cannot help.
_PERMANENT = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)


def parse_sqlite_url(url: str) -> Path | None:
    """`sqlite:///rel.db` -> rel.db, `sqlite:////abs.db` -> /abs.db, `sqlite://:memory:` -> None."""
    try:
        return sqlite_path(url)
    except BadStoreUrl as err:
        raise ConfigError(str(err)) from err


@lru_cache(maxsize=1024)
def _qmark(text: str) -> str:
    return text.replace("%s", "?")


def _wrap(err: sqlite3.Error, what: str) -> StoreError:
    return StoreError(f"sqlite {what} failed: {err}", transient=not isinstance(err, _PERMANENT))


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.debug("rollback failed (no transaction open?)", exc_info=True)


class SqliteStore(SqlStore):
    backend: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.path = parse_sqlite_url(url)
        self._busy_ms = busy_timeout_ms
        self._wlock = threading.Lock()  # one writer per process (memory: every access)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        # transactions in progress: close() waits for them (closing a connection another thread
        # is using crashes the sqlite3 module, not just the transaction)
        self._active = 0
        self._idle = threading.Condition(self._conns_lock)
        self._shared: sqlite3.Connection | None = None
        if self.path is None:
            self._shared = self._connect()
        elif self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        try:
            conn = sqlite3.connect(
                target, timeout=self._busy_ms / 1000, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            if self.path is not None:
                self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as err:
            raise _wrap(err, "open") from err
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """WAL is persistent in the file; switching needs a moment alone with it, and SQLite
        answers "locked" at once (no busy handler) when another process opens the file then."""
        deadline = time.monotonic() + self._busy_ms / 1000
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        if self._shared is not None:
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def _transaction(self, begin: str, *, begin_in_steps: bool = False) -> Iterator[Cursor]:
        with self._idle:
            if self._closed:
                raise StoreError(f"store {self.url} is closed")
            self._active += 1
        try:
            with self._transaction_on(self._conn(), begin, begin_in_steps) as cur:
                yield cur
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @contextmanager
    def _transaction_on(
        self, conn: sqlite3.Connection, begin: str, begin_in_steps: bool = False
    ) -> Iterator[Cursor]:
        try:
            if begin_in_steps:
                self._begin_in_steps(conn, begin)
            else:
                conn.execute(begin)
        except sqlite3.Error as err:
            raise _wrap(err, "begin") from err
        try:
            yield conn.cursor()
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _rollback(conn)
            raise _wrap(err, "statement") from err
        except BaseException:
            _rollback(conn)
            raise

    def _begin_in_steps(self, conn: sqlite3.Connection, begin: str) -> None:
        """`begin`, a file another process writes waited for in BEGIN_STEP_MS waits up to the busy
        timeout, not in one wait inside SQLite: Python runs a signal's handler only between C
        calls, so a Ctrl-C went unseen for the rest of the 10 s."""
        deadline = time.monotonic() + self._busy_ms / 1000
        try:
            while True:
                left_ms = int((deadline - time.monotonic()) * 1000)
                conn.execute(f"PRAGMA busy_timeout = {max(1, min(BEGIN_STEP_MS, left_ms))}")
                try:
                    conn.execute(begin)
                    return
                except sqlite3.OperationalError as err:  # SQLITE_BUSY: "database is locked"
                    if "locked" not in str(err) or time.monotonic() >= deadline:
                        raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        with self._wlock, self._transaction("BEGIN IMMEDIATE") as cur:
            yield cur

    @contextmanager
    def _migrate_tx(self) -> Iterator[Cursor]:
        """migrate()'s transaction, its write lock waited for in steps (`_begin_in_steps`): an
        operator's Ctrl-C at `arbiter migrate`, `keys create` or `serve`'s start-up stops it."""
        with self._wlock, self._transaction("BEGIN IMMEDIATE", begin_in_steps=True) as cur:
            yield cur

    @contextmanager
    def _budget_tx(self) -> Iterator[Cursor]:
        """A budget write waits at most BUDGET_LOCK_WAIT_MS for the write lock (this process's,
        then the file's), not the whole busy_timeout: a file locked by another process (a shell
        left in a transaction, a backup) held every capped request for 10 s, where the outage
        allowance should have answered it at once."""
        until = time.monotonic() + BUDGET_LOCK_WAIT_MS / 1000
        if not self._wlock.acquire(timeout=BUDGET_LOCK_WAIT_MS / 1000):
            raise StoreError(f"sqlite begin failed: store {self.url} is busy", transient=True)
        try:
            conn = self._conn()
            left_ms = max(1, int((until - time.monotonic()) * 1000))
            conn.execute(f"PRAGMA busy_timeout = {left_ms}")
            try:
                with self._transaction("BEGIN IMMEDIATE") as cur:
                    yield cur
            finally:
                with suppress(sqlite3.Error):  # a closed store: nothing to restore
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
        finally:
            self._wlock.release()

    @contextmanager
    def _ro(self) -> Iterator[Cursor]:
        if self._shared is not None:
            with self._wlock, self._transaction("BEGIN") as cur:
                yield cur
        else:
            with self._transaction("BEGIN") as cur:
                yield cur

    def _sql(self, text: str) -> str:
        return _qmark(text)

    # writers are serialised (BEGIN IMMEDIATE): a counter read inside the write only grows, and
    # a reader's snapshot holds every mark up to its highest
    _SYNC_MARK = "(SELECT COALESCE(MAX(sync_mark), 0) + 1 FROM arms)"

    def _sync_cursor(self, cur: Cursor) -> int:
        cur.execute("SELECT COALESCE(MAX(sync_mark), 0) FROM arms")
        return int(cur.fetchone()[0])

    def _changed_since(self, since: Any) -> tuple[str, list[Any]]:
        return "sync_mark > %s", [int(since)]

    def close(self) -> None:
        with self._idle:
            self._closed = True
            # bounded: a transaction stuck past this is abandoned rather than hang shutdown
            self._idle.wait_for(lambda: self._active == 0, timeout=10.0)
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                log.debug("closing a sqlite connection failed", exc_info=True)
