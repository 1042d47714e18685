"""A reader that stops early (`arbiter export ... | head`) is not an error of ours: the command
ends quietly, as `cat` would, instead of printing a BrokenPipeError traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from arbiter.store import open_store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "python"


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text().replace("sqlite:///arbiter.db", "sqlite:///a.db"))
    return cfg


def _run_into_closed_pipe(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        env = {**os.environ, "SIM_API_KEY": "sk-sim", "ARBITER_ADMIN_KEY": "adm"}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p
        )
        return subprocess.run(
            [sys.executable, "-m", "arbiter", *args],
            stdout=write_end, stderr=subprocess.PIPE, cwd=cwd, env=env, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)


def test_export_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")  # an unmigrated one: rc 2, said so
    store.migrate()
    store.close()
    done = _run_into_closed_pipe(
        ["export", "--config", str(cfg), "--since", "1d", "--format", "csv"], tmp_path
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    assert b"BrokenPipeError" not in done.stderr, done.stderr.decode()
    assert done.returncode == 141  # 128 + SIGPIPE, what a shell sees of `cat` in the same place
