"""ops26: the CLI as an outsider runs it. `arbiter export` and `arbiter keys` on a PostgreSQL
store that refuses connections: one `arbiter: cannot reach PostgreSQL ...` line, status 1, at
once (before: the pool's retry lines on stderr, 5 s, then `PoolTimeout: couldn't get a
connection`). Ctrl-C (SIGINT) in the middle of `export --out PATH`: PATH as it was (a previous
export intact), no partial file beside it, one line saying so, status 130 (before: PATH
truncated to a partial export that reads as a whole one, no word). A write that fails midway
leaves PATH as it was too (whole_file). A SQLite store file that is no database is named in
the line. Ctrl-C during `arbiter replay`: one line, status 130 (before: a traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from arbiter.inherited_socket import unheld_port
from arbiter.records import Attempt, Candidate, DecisionRecord
from arbiter.store import open_store
from arbiter.whole_file import whole_file
from tests.conftest import ENV
from tests.probe23d_rig import arbiter, config_text, one_clear_line

ROWS = 60_000  # an export of these takes a second or more: time to interrupt it midway
OLD = "a previous export\n"


def _decision(i: int) -> DecisionRecord:
    return DecisionRecord(
        id=f"d{i}", ts=time.time() - 3600 + i * 1e-3, tenant="t", task="chat", mode="routed",
        chosen_model="m", reason="r", candidates=(Candidate("m", 0.5, 0.5, 0.01, why_not=None),),
        attempts=(Attempt("m", True, 12.0, status=200),), status="ok", cost_usd=0.01,
        baseline_model="b", baseline_cost_usd=0.02, latency_ms=12.0, prompt_tokens=3,
        completion_tokens=2,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command", [["export", "--since", "7d"], ["keys", "list"], ["keys", "create"]]
)
def test_a_store_that_refuses_is_one_line_at_once(tmp_path: Path, command: list[str]) -> None:
    cfg = tmp_path / "arbiter.toml"
    down = f"postgresql://postgres@127.0.0.1:{unheld_port()}/arbiter"
    cfg.write_text(config_text(db=tmp_path / "a.db").replace(f"sqlite:///{tmp_path / 'a.db'}",
                                                                 down))  # fmt: skip
    ran = arbiter(command[0], "--config", str(cfg), *command[1:], timeout_s=30)
    assert ran.rc == 1, (ran.rc, ran.out[-2000:])
    one_clear_line(ran, "cannot reach PostgreSQL", "Connection refused")
    # that line alone: no pool retry lines, no PoolTimeout (the pool's 5 s wait, not timed
    # here: an interpreter's start takes seconds on a loaded host)
    assert ran.lines == [ran.lines[-1]], ran.out


@pytest.mark.parametrize(
    "command", [["export", "--since", "7d"], ["keys", "list"], ["keys", "create"]]
)
def test_a_sqlite_file_that_is_no_database_is_named(tmp_path: Path, command: list[str]) -> None:
    """Before: `arbiter: sqlite open failed: file is not a database`, naming no file."""
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(config_text(db=tmp_path / "a.db"))
    (tmp_path / "a.db").write_bytes(b"\x00garbage\xff" * 1000)
    ran = arbiter(command[0], "--config", str(cfg), *command[1:], timeout_s=30)
    assert ran.rc == 1, (ran.rc, ran.out[-2000:])
    one_clear_line(ran, "cannot open the store", str(tmp_path / "a.db"), "not a database")


def test_ctrl_c_mid_export_leaves_the_out_file_as_it_was(tmp_path: Path) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(config_text(db=tmp_path / "a.db"))
    assert arbiter("migrate", "--config", str(cfg)).rc == 0
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        for start in range(0, ROWS, 5000):
            store.write([_decision(i) for i in range(start, start + 5000)])
    finally:
        store.close()
    out = tmp_path / "out" / "export.jsonl"
    out.parent.mkdir()
    out.write_text(OLD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter", "export", "--config", str(cfg), "--since", "7d",
         "--out", str(out)],
        env=ENV, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while not any(p.stat().st_size > 100_000 for p in out.parent.iterdir()):
            assert proc.poll() is None, "the export ended before it could be interrupted"
            assert time.monotonic() < end, "the export never began writing"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == [
        f"arbiter: interrupted; --out {str(out)!r} not written (left as it was)"
    ], err
    assert out.read_text() == OLD
    assert [p.name for p in out.parent.iterdir()] == ["export.jsonl"]  # nothing partial left


def test_a_write_that_fails_midway_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text(OLD)
    with pytest.raises(RuntimeError), whole_file(str(path)) as f:
        f.write("half of a new export\n")
        raise RuntimeError("the store failed")
    assert path.read_text() == OLD and os.listdir(tmp_path) == ["out.csv"]
    with whole_file(str(path)) as f:
        f.write("new\n")
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["out.csv"]
    assert (path.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reading(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open (it is past its imports, reading the table)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fds / fd) == str(path) for fd in os.listdir(fds))
    except OSError:  # it exited, or closed that fd while we looked
        return False


def test_ctrl_c_mid_replay_is_one_line_and_status_130(tmp_path: Path) -> None:
    """Before: the table reader's KeyboardInterrupt traceback (replay parses its own arguments,
    outside the other commands' Ctrl-C handling)."""
    models = tmp_path / "models.json"
    models.write_bytes(orjson.dumps([{"id": m, "price_in_per_mtok": p, "price_out_per_mtok": 2 * p}
                                     for m, p in (("a", 1.0), ("b", 5.0))]))  # fmt: skip
    table = tmp_path / "table.jsonl"
    outcome = {"quality": 0.5, "prompt_tokens": 10, "completion_tokens": 5}
    with table.open("wb") as f:
        for i in range(150_000):
            row = {"id": str(i), "messages": [{"role": "user", "content": f"q {i}"}],
                   "outcomes": {"a": outcome, "b": outcome}}  # fmt: skip
            f.write(orjson.dumps(row) + b"\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter", "replay", str(table), "--models", str(models)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while not _reading(proc.pid, table):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < end, "the replay never opened its table"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert err.strip().splitlines() == ["arbiter replay: interrupted"], err[-2000:]
