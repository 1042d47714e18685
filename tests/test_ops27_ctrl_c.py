"""ops27: Ctrl-C during `arbiter migrate`, `keys create` or `serve`'s start-up says where the
store was left, in one line, and exits 130 (before: 130 and not a word, so an operator could not
tell a store half migrated from one untouched). Each child is a real process sent a real SIGINT
at a known point of its migration, on a store set back to schema 0069: on PostgreSQL while it
waits for a table lock this test holds (0071 alters `arm_resets`; 0070 is applied by then, in
the same transaction); on SQLite, whose writer never waits inside a transaction, by a profile
hook the child runs that signals it as 0071 begins. Either way the pending migrations are all
or nothing: the store is at 0069 again, 0070's column and 0071's table gone, no key made."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from arbiter.auth import create_key
from arbiter.store import Store, StoreError, open_store
from arbiter.store._sql import load_migrations
from arbiter.store.sqlite import SqliteStore
from tests.conftest import ENV
from tests.pg import empty_store_url
from tests.probe23d_rig import config_text

LATEST = load_migrations("sqlite")[-1][0]
ROLLED_BACK = (
    f"migrations 0070-{LATEST:04d} not applied (all or nothing: rolled back if begun): "
    "the store is at 0069, as it was"
)
LINES = {
    "migrate": f"arbiter: interrupted: {ROLLED_BACK}",
    "keys": f"arbiter: interrupted: no key was created; {ROLLED_BACK}",
    "serve": f"arbiter: interrupted during start-up, before serving: {ROLLED_BACK}",
}
ARGS = {"migrate": ["migrate"], "keys": ["keys", "create"], "serve": ["serve", "--port", "0"]}
# A child (`arbiter ARGS`) that, at the first profile event of the function NAME in a file ending
# FILE, with its local KEY equal to VALUE when `KEY=VALUE` is given, sends itself SIGINT ("sigint")
# or creates the file THEN (the test signals it then: a wait in C under way); VALUE `*`: once
# KEY is bound. `version=71` in SqlStore.migrate: as that migration's first statement is sent.
CHILD = """
import os, signal, sys
name, file, local, then = sys.argv[1:5]
del sys.argv[1:5]
key, _, value = local.partition("=")
def hook(frame, event, arg):
    code = frame.f_code
    if code.co_name != name or not code.co_filename.endswith(file):
        return
    if key and (key not in frame.f_locals or value not in ("*", str(frame.f_locals[key]))):
        return
    sys.setprofile(None)
    if then == "sigint":
        os.kill(os.getpid(), signal.SIGINT)
    else:
        open(then, "w").close()
sys.setprofile(hook)
from arbiter.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _child(point: tuple[str, str, str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *point, *args],
        env=ENV, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _at_0069(url: str) -> None:
    """A fresh store migrated to 0069 only, as a store of the release before 0070-0072."""
    store = open_store(url)
    try:
        assert store.migrate(to=69) == 69
    finally:
        store.close()


def _as_it_was(url: str) -> None:
    store = open_store(url)
    try:
        assert store.schema_version() == 69
        assert _columns(store, "decisions").isdisjoint({"usage_cost_usd"})  # 0070's, never applied
        assert not _columns(store, "arm_log")  # 0071's table, never committed
        assert store.list_keys() == []
    finally:
        store.close()


def _columns(store: Store, table: str) -> set[str]:
    with store._ro() as cur:
        if store.backend == "sqlite":
            cur.execute(f"SELECT name FROM pragma_table_info('{table}')")
        else:
            cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                (table,),
            )
        return {row[0] for row in cur.fetchall()}


def _config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "arbiter.toml"
    db = tmp_path / "a.db"
    cfg.write_text(config_text(db=db).replace(f"sqlite:///{db}", url))
    return cfg


def _ended(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, err


def _waits_on_arm_resets(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'arm_resets' AND NOT l.granted"
        ).fetchone()
    return bool(row and row[0])


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["migrate", "keys", "serve"])
def test_ctrl_c_while_a_migration_waits_on_postgres(tmp_path: Path, command: str) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        _at_0069(url)
        cfg = _config(tmp_path, url)
        with psycopg.connect(url) as holder:  # a reader of arm_resets: 0071's ALTER waits
            holder.execute("LOCK TABLE arm_resets IN ACCESS SHARE MODE")
            proc = subprocess.Popen(
                [sys.executable, "-m", "arbiter", *ARGS[command], "--config", str(cfg)],
                env=ENV, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                end = time.monotonic() + 60
                while not _waits_on_arm_resets(url):
                    assert proc.poll() is None and time.monotonic() < end, "never waited"
                    time.sleep(0.05)
                proc.send_signal(signal.SIGINT)
            finally:
                rc, err = _ended(proc)
        assert rc == 130, (rc, err)
        assert err.strip().splitlines()[-1:] == [LINES[command]], err
        assert "Traceback" not in err, err
        _as_it_was(url)


def test_ctrl_c_mid_migration_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _at_0069(url)
    cfg = _config(tmp_path, url)
    rc, err = _ended(
        _child(("migrate", "_sql.py", "version=71", "sigint"), "migrate", "--config", str(cfg))
    )
    assert rc == 130, (rc, err)
    assert err.strip().splitlines()[-1:] == [LINES["migrate"]], err
    _as_it_was(url)


# after the migration: as the app is built, and in its lifespan's start-up (uvicorn's handler
# takes that SIGINT, the start-up ends, then the server stops and raises it again)
@pytest.mark.parametrize(
    "point",
    [("build_app", "arbiter/server.py", "", "sigint"), ("startup", "lifespan/on.py", "", "sigint")],
    ids=["build_app", "lifespan"],
)
def test_ctrl_c_in_serves_start_up_after_its_migration(
    tmp_path: Path, point: tuple[str, str, str, str]
) -> None:
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    rc, err = _ended(_child(point, "serve", "--port", "0", "--config", str(cfg)))
    assert rc == 130, (rc, err)
    line = (
        "arbiter: interrupted during start-up, before serving: "
        f"the store is at {LATEST:04d}, fully migrated"
    )
    assert err.strip().splitlines()[-1:] == [line], err


def test_ctrl_c_while_another_process_writes_the_sqlite_file(tmp_path: Path) -> None:
    """The migration's wait for SQLite's write lock (up to the 10 s busy timeout) was one wait
    inside SQLite, where Python cannot run a signal's handler: Ctrl-C did nothing until it ran
    out (10.0 s after the signal on base27). Now waited in 100 ms steps."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _at_0069(url)
    cfg, waiting = _config(tmp_path, url), tmp_path / "waiting"
    writer = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process's write under way
        point = ("_transaction_on", "store/sqlite.py", "begin=BEGIN IMMEDIATE", str(waiting))
        proc = _child(point, "migrate", "--config", str(cfg))
        try:
            end = time.monotonic() + 60
            while not waiting.exists():
                assert proc.poll() is None and time.monotonic() < end, "never took the lock"
                time.sleep(0.02)
            time.sleep(0.5)  # inside its wait for the lock
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
        finally:
            rc, err = _ended(proc)
        took = time.monotonic() - sent
    finally:
        writer.close()
    assert rc == 130, (rc, err)
    assert took < 4.0, f"Ctrl-C took {took:.1f} s to stop it"
    assert err.strip().splitlines()[-1:] == [LINES["migrate"]], err
    _as_it_was(url)


def test_a_migration_still_waits_out_the_busy_timeout(tmp_path: Path) -> None:
    """The steps change no wait: a file locked past the busy timeout still fails the migration
    after it (here 600 ms), and the connection's busy timeout is restored."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _at_0069(url)
    writer = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    store = SqliteStore(url, busy_timeout_ms=600)
    try:
        writer.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.migrate()
        assert 0.55 < time.monotonic() - t0 < 5.0
        writer.execute("ROLLBACK")
        with store._ro() as cur:
            cur.execute("PRAGMA busy_timeout")
            assert cur.fetchone()[0] == 600
        assert store.migrate() == LATEST  # and the lock let go, it migrates
    finally:
        store.close()
        writer.close()


def _keys(url: str) -> list[dict[str, object]]:
    store = open_store(url)
    try:
        return store.list_keys()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("point", "stored"),
    [
        (("create_key", "store/accounts.py", "", "sigint"), False),
        (("_run", "cli_keys.py", "new=*", "sigint"), True),
    ],
    ids=["before-its-write", "written-not-shown"],
)
def test_ctrl_c_while_a_key_is_created(
    tmp_path: Path, point: tuple[str, str, str, str], stored: bool
) -> None:
    """A Ctrl-C as the key is written, or after it is stored and before its secret is shown:
    the line says which, read back from the store; a key stored unseen is named, to revoke."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    cfg = _config(tmp_path, url)
    rc, err = _ended(
        _child(point, "keys", "create", "--tenant", "t1", "--name", "ci", "--config", str(cfg))
    )
    assert rc == 130, (rc, err)
    keys = _keys(url)
    if not stored:
        assert keys == []
        assert err.strip().splitlines()[-1:] == ["arbiter: interrupted: no key was created"], err
        return
    assert [(k["tenant"], k["name"]) for k in keys] == [("t1", "ci")]
    key_id = keys[0]["id"]
    line = (
        f"arbiter: interrupted: key {key_id} was stored, but its secret was never shown: "
        f"revoke it (`arbiter keys revoke {key_id}`) and create another"
    )
    assert err.strip().splitlines()[-1:] == [line], err


def test_ctrl_c_as_a_key_is_revoked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    cfg = _config(tmp_path, url)
    store = open_store(url)
    try:
        store.migrate()
        key = create_key(store, "t1", name="ci")
    finally:
        store.close()
    point = ("revoke_key", "store/accounts.py", "", "sigint")
    rc, err = _ended(_child(point, "keys", "revoke", key.id, "--config", str(cfg)))
    assert rc == 130, (rc, err)
    assert err.strip().splitlines()[-1:] == [
        f"arbiter: interrupted: key {key.id} is not revoked"
    ], err
    assert [k["revoked_ts"] for k in _keys(url)] == [None]
