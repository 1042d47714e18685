"""probe19b: a store that cannot be opened, as the operator's commands meet it.

SQLite opens its file lazily, so the start-up check (`preflight.store_problem`) passed a store
path that is a folder or a file that is no database: `arbiter serve` then died in its start-up
with a traceback, `check-config --probe` said nothing of the store, and `arbiter migrate` raised a
traceback for those and for a PostgreSQL server that refused. Each is now one line naming the
store and why, as `serve` already said for a PostgreSQL that refused.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from arbiter.cli import main
from arbiter.preflight import store_problem
from arbiter.store import open_store
from tests.pg import empty_store_url

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


def _closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connecting to it is refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bad_store(tmp_path: Path, kind: str) -> tuple[str, str]:
    """(url, words the one line must hold)."""
    if kind == "folder":
        (tmp_path / "db").mkdir()
        return f"sqlite:///{tmp_path / 'db'}", "unable to open database file"
    if kind == "not a database":
        (tmp_path / "notes.db").write_text("these are notes, not a database\n" * 10)
        return f"sqlite:///{tmp_path / 'notes.db'}", "file is not a database"
    return f"postgresql://postgres@127.0.0.1:{_closed_port()}/x", "cannot reach PostgreSQL"


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Path:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm")
    cfg = tmp_path / "arbiter.toml"
    text = EXAMPLE.read_text().replace("sqlite:///arbiter.db", url)
    # the upstream at a port nothing listens on, whatever runs on this host (--probe asks it)
    cfg.write_text(text.replace("http://127.0.0.1:9100", f"http://127.0.0.1:{_closed_port()}"))
    return cfg


@pytest.mark.parametrize("kind", ["folder", "not a database"])
def test_the_start_up_check_opens_an_existing_sqlite_file(tmp_path: Path, kind: str) -> None:
    url, words = _bad_store(tmp_path, kind)
    problem = store_problem(url)
    assert problem is not None and words in problem, problem
    assert problem.startswith(f"cannot open the store at {url}")


@pytest.mark.parametrize("kind", ["folder", "not a database", "refused"])
def test_migrate_says_why_the_store_cannot_be_opened_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    url, words = _bad_store(tmp_path, kind)
    cfg = _config(tmp_path, monkeypatch, url)
    assert main(["migrate", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arbiter: ") and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("kind", ["folder", "not a database"])
def test_check_config_probe_names_the_store_it_cannot_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    url, words = _bad_store(tmp_path, kind)
    cfg = _config(tmp_path, monkeypatch, url)
    assert main(["check-config", "--probe", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert any(line.startswith("store: cannot open") and words in line
               for line in err.splitlines()), err  # fmt: skip


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_store_that_opens_passes_and_a_new_file_is_left_to_the_migration(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    new = tmp_path / "new.db"
    with empty_store_url(backend, new) as url:
        assert store_problem(url) is None
        assert not new.exists()  # the check creates no file (check-config --probe uses it)
        cfg = _config(tmp_path, monkeypatch, url)
        assert main(["migrate", "--config", str(cfg)]) == 0, capsys.readouterr().err
        assert store_problem(url) is None  # an existing, migrated file is read and passes
        store = open_store(url)
        try:
            assert store.schema_version() > 0
        finally:
            store.close()
