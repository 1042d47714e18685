"""A live PostgreSQL for tests: `pg_url()` and a fresh throwaway database per test.

`pg_url()` returns $ARBITER_TEST_PG_URL when set; otherwise it starts the repository's throwaway
cluster once per process with scripts/postgres.sh (installing PostgreSQL if it can) and returns
its URL, or None when that is impossible (tests then skip). Only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "postgres.sh"
ENV_URL = "ARBITER_TEST_PG_URL"
_started_here: list[bool] = []  # whether this process started the cluster (for pg_shutdown)


@functools.cache
def pg_url() -> str | None:
    """URL of a live server (any database on it may be used as the maintenance database)."""
    url = os.environ.get(ENV_URL)
    if url:
        return url
    try:
        was_running = subprocess.run([str(SCRIPT), "status"], capture_output=True, timeout=30)
        out = subprocess.run(
            [str(SCRIPT), "start"], capture_output=True, text=True, timeout=300, check=True
        )
    except (OSError, subprocess.SubprocessError) as err:
        stderr = getattr(err, "stderr", "") or ""
        log.warning("no test PostgreSQL (%s) %s", err, stderr.strip()[-500:])
        return None
    _started_here.append(was_running.returncode != 0)
    return out.stdout.strip().splitlines()[-1]


def pg_shutdown() -> None:
    """Stop the cluster if this process started it (call at session end; optional)."""
    if any(_started_here) and not os.environ.get(ENV_URL):
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, timeout=120, check=False)


def require_pg() -> str:
    """The server's URL. Without one a test skips on a developer machine, but fails under CI
    (CI=true): .ci/run starts PostgreSQL, so a missing server there is a broken set-up, not a
    reason to stop testing the shared store silently."""
    url = pg_url()
    if url is not None:
        return url
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail("no PostgreSQL server in CI (make test starts one: scripts/postgres.sh)")
    pytest.skip("no PostgreSQL server (set ARBITER_TEST_PG_URL or install postgresql)")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """CREATE a database with a random name on the server of `base_url`; yield its URL; DROP it."""
    name = f"arbiter_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(base_url, name)
    finally:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def empty_store_url(backend: str, sqlite_file: Path) -> Iterator[str]:
    """A URL to an empty store: `sqlite_file`, or a fresh PostgreSQL database (see
    require_pg for a missing server)."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    with fresh_database(require_pg()) as url:
        yield url


def set_connections(db: str, allowed: bool) -> None:
    """Refuse (and drop) or take again every connection to `db`: that database's server down
    and back, without stopping the shared server."""
    with psycopg.connect(require_pg(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(db), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (db,),
            )
