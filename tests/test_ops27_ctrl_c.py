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
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from arbiter.store import Store, open_store
from arbiter.store._sql import load_migrations
from tests.conftest import ENV
from tests.pg import empty_store_url
from tests.probe23d_rig import config_text

LATEST = load_migrations("sqlite")[-1][0]  # one after 0072: undo it in `_at_0069` too
ROLLED_BACK = (
    f"migrations 0070-{LATEST:04d} rolled back (all or nothing): the store is at 0069, as it was"
)
LINES = {
    "migrate": f"arbiter: interrupted: {ROLLED_BACK}",
    "keys": f"arbiter: interrupted: no key was created; {ROLLED_BACK}",
    "serve": f"arbiter: interrupted during start-up, before serving: {ROLLED_BACK}",
}
ARGS = {"migrate": ["migrate"], "keys": ["keys", "create"], "serve": ["serve", "--port", "0"]}
# A child that sends itself SIGINT when the function `NAME` of a file ending `FILE` is called
# (event "call") or, with VERSION, calls a builtin while its local `version` is VERSION (SQLite's
# cursor, in SqlStore.migrate's loop: as that migration's first statement is sent)
SIGINT_AT = """
import os, signal, sys
name, file, version = sys.argv[1:4]
del sys.argv[1:4]
def hook(frame, event, arg):
    code = frame.f_code
    if code.co_name != name or not code.co_filename.endswith(file):
        return
    if (event == "c_call" and str(frame.f_locals.get("version")) == version) or (
            event == "call" and not version):
        sys.setprofile(None)
        os.kill(os.getpid(), signal.SIGINT)
sys.setprofile(hook)
from arbiter.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _signalled_at(point: tuple[str, str, str], *args: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_AT, *point, *args],
        env=ENV, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return _ended(proc)


def _at_0069(url: str) -> None:
    """A store migrated, then set back to 0069 (0070's column, 0071's table and 0071-0072's
    columns dropped), as a store of the release before them."""
    store = open_store(url)
    try:
        store.migrate()
        with store._tx() as cur:
            cur.execute("ALTER TABLE decisions DROP COLUMN usage_cost_usd")
            cur.execute("DROP TABLE arm_log")
            for column in ("level_before", "level_after", "levels_ts", "started"):
                cur.execute(f"ALTER TABLE arm_resets DROP COLUMN {column}")
            cur.execute("DELETE FROM schema_version WHERE version >= 70")
    finally:
        store.close()


def _as_it_was(url: str) -> None:
    store = open_store(url)
    try:
        assert store.schema_version() == 69
        assert _columns(store, "decisions").isdisjoint({"usage_cost_usd"})  # 0070's, undone
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
    rc, err = _signalled_at(
        ("migrate", "_sql.py", "71"), "migrate", "--config", str(_config(tmp_path, url))
    )
    assert rc == 130, (rc, err)
    assert err.strip().splitlines()[-1:] == [LINES["migrate"]], err
    _as_it_was(url)


# after the migration: as the app is built, and in its lifespan's start-up (uvicorn's handler
# takes that SIGINT, the start-up ends, then the server stops and raises it again)
@pytest.mark.parametrize(
    "point",
    [("build_app", "arbiter/server.py", ""), ("startup", "lifespan/on.py", "")],
    ids=["build_app", "lifespan"],
)
def test_ctrl_c_in_serves_start_up_after_its_migration(
    tmp_path: Path, point: tuple[str, str, str]
) -> None:
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    rc, err = _signalled_at(point, "serve", "--port", "0", "--config", str(cfg))
    assert rc == 130, (rc, err)
    line = (
        "arbiter: interrupted during start-up, before serving: "
        f"the store is at {LATEST:04d}, fully migrated"
    )
    assert err.strip().splitlines()[-1:] == [line], err
