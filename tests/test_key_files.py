"""Keys kept in files (`[upstreams.X] api_key_file`, `[auth] *_key_file`): read at load, and again
by each reload (the rotation: config_reload.py); a relative path is the config file's folder's.
A file that cannot be read, is empty or not printable ASCII, or a key named twice (env and
file), is a config error naming the setting."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter import config
from arbiter.errors import ConfigError
from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import ENV


def _load(tmp_path: Path, change: Any) -> config.Settings:
    doc = demo_settings("http://127.0.0.1:9/v1", Path("unused.db"))
    doc["store"]["url"] = "sqlite://:memory:"
    change(doc)
    path = tmp_path / "a.toml"
    path.write_text(to_toml(doc))
    return config.load(path, env=ENV)


def _from_files(doc: dict[str, Any]) -> None:
    doc["upstreams"]["sim"].pop("api_key_env")
    doc["upstreams"]["sim"]["api_key_file"] = "keys/sim.key"  # relative: the config's folder
    doc["auth"] = {"mode": "keys", "admin_key_file": "keys/admin.key"}


def test_keys_are_read_from_files_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sim.key").write_text("sk-from-file\n")
    (tmp_path / "keys" / "admin.key").write_text("  adm-from-file  \n")
    s = _load(tmp_path, _from_files)
    assert s.upstreams["sim"].api_key == "sk-from-file"
    assert s.auth.admin_key == "adm-from-file"
    assert s.upstreams["sim"].api_key_file == str(tmp_path / "keys" / "sim.key")


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "cannot read"), ("\n", "printable ASCII"), ("sk-\u00e9", "printable ASCII")],
)
def test_an_unusable_key_file_is_an_error_naming_the_setting(
    tmp_path: Path, content: str | None, words: str
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "admin.key").write_text("adm-ok")
    if content is not None:
        (tmp_path / "keys" / "sim.key").write_text(content)
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _from_files)
    assert "upstreams.sim.api_key_file" in str(err.value) and words in str(err.value)


def test_a_key_named_by_both_an_env_var_and_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sim.key").write_text("sk-1")

    def both(doc: dict[str, Any]) -> None:
        doc["upstreams"]["sim"]["api_key_file"] = "sim.key"

    with pytest.raises(ConfigError, match="set api_key_env or api_key_file, not both"):
        _load(tmp_path, both)


def _fifo_key(fifo: Path) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["upstreams"]["sim"].pop("api_key_env")
        doc["upstreams"]["sim"]["api_key_file"] = str(fifo)

    return change


@pytest.mark.parametrize("which", ["config", "key file"])
def test_a_fifo_as_the_config_or_a_key_file_is_an_error_not_a_hang(
    tmp_path: Path, which: str
) -> None:
    """open() on a FIFO waits for a writer: a reload reading one held its lock for good (every
    later reload waited behind it). Now refused at once, naming the file. Run in a thread with
    a bound, so a regression fails instead of hanging the suite."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[str] = []

    def load() -> None:
        try:
            config.load(fifo) if which == "config" else _load(tmp_path, _fifo_key(fifo))
        except ConfigError as err:
            got.append(str(err))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # a writer unblocks the reader, so the thread ends
        with open(fifo, "w"):
            pass
        pytest.fail(f"reading a FIFO {which} blocked")
    assert got and "not a regular file" in got[0], got
    if which == "key file":
        assert "upstreams.sim.api_key_file: cannot read" in got[0], got
