"""PostgreSQL backend (psycopg 3 + psycopg_pool): the shared store several replicas write to.

Connections come from a small pool that checks each one before use, so a server restart costs
at most one failed call. Migrations serialise on a transaction-scoped advisory lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from arbiter.store import StoreError
from arbiter.store._sql import Cursor, SqlStore

log = logging.getLogger(__name__)

_PERMANENT = (psycopg.IntegrityError, psycopg.DataError)
_MIGRATE_LOCK = "arbiter.store.migrate"
_ID_LOCK_SPACE = 0x4152  # first key of the (int, int) advisory locks on decision ids


def redact_url(url: str) -> str:
    """The url with its password replaced by `***` (for logs and the dashboard)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _wrap(err: psycopg.Error, what: str) -> StoreError:
    return StoreError(f"postgres {what} failed: {type(err).__name__}: {err}",
                      transient=not isinstance(err, _PERMANENT))  # fmt: skip


class PostgresStore(SqlStore):
    backend: Literal["sqlite", "postgres"] = "postgres"
    _JSON: ClassVar[str] = "%s::jsonb"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout_s: float = 5.0,
        connect_timeout_s: int = 5,
    ) -> None:
        self.url = redact_url(url)
        extra: dict[str, Any] = {}
        if "connect_timeout" not in conninfo_to_dict(url):
            extra["connect_timeout"] = connect_timeout_s
        if "application_name" not in conninfo_to_dict(url):
            extra["application_name"] = "arbiter"
        self._pool = ConnectionPool(
            make_conninfo(url, **extra),
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            check=ConnectionPool.check_connection,
            name="arbiter-store",
            open=False,
        )
        self._pool.open(wait=False)  # never block start-up; the first call waits `timeout_s`

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    @contextmanager
    def _tx(self) -> Iterator[Cursor]:
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                yield cur
        except psycopg.Error as err:
            raise _wrap(err, "transaction") from err

    _ro = _tx  # a read is a short transaction too (one snapshot per call under READ COMMITTED)

    def _migration_lock(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATE_LOCK,))

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
