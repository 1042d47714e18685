"""An operator starting `arbiter serve` where it cannot run: a port another process holds (one
listener, or another Arbiter set's SO_REUSEPORT workers), a store another process has locked,
a store file it cannot write, a config that is wrong. Each is one `arbiter: ...` line and a
non-zero exit in bounded time, never a traceback, and never a sidecar that serves anyway."""

from __future__ import annotations

import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.probe23d_rig import arbiter, one_clear_line, read_only, write_config


def _held_port(reuse_port: bool) -> socket.socket:
    """A listening socket on a free loopback port; with SO_REUSEPORT, as an Arbiter worker's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("reuse_port", [False, True], ids=["a-listener", "another-arbiter-set"])
def test_workers_on_a_port_in_use_are_one_line_and_status_3(
    tmp_path: Path, reuse_port: bool
) -> None:
    """Before: a port held by a plain listener was each worker's OSError traceback (status 1);
    one held by another set's SO_REUSEPORT workers was joined, silently: two sidecars (their
    own code, config and store) shared the port's traffic. Now both are refused at once, as a
    single process's bind is (uvicorn's status 3)."""
    with _held_port(reuse_port) as held:
        port = held.getsockname()[1]
        cfg = write_config(tmp_path, port=port, workers=2)
        t0 = time.monotonic()
        ran = arbiter("serve", "--config", str(cfg), timeout_s=20)
        took = time.monotonic() - t0
    assert ran.rc == 3, (ran.rc, ran.out[-3000:])
    one_clear_line(ran, f"127.0.0.1:{port}", "in use")
    assert took < 15, took


def test_serve_on_a_store_another_process_locked_is_one_line(tmp_path: Path) -> None:
    """A shell (or a backup) holding the SQLite file's write lock past the busy timeout: before,
    the start-up migration's StoreError came out of uvicorn's lifespan as a traceback."""
    cfg = write_config(tmp_path)
    assert arbiter("migrate", "--config", str(cfg)).rc == 0
    holder = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        ran = arbiter("serve", "--config", str(cfg), timeout_s=40)
    finally:
        holder.close()
    assert ran.rc == 1, (ran.rc, ran.out[-3000:])
    one_clear_line(ran, "a.db", "locked")


def test_serve_on_a_read_only_store_is_refused_at_start(tmp_path: Path) -> None:
    """Before: it started, /healthz said store_healthy, answered requests, and every record
    (decisions, spend) was refused by the store and lost at stop. Now: refused, one line."""
    cfg = write_config(tmp_path)
    assert arbiter("migrate", "--config", str(cfg)).rc == 0
    with read_only(tmp_path / "a.db"):
        ran = arbiter("serve", "--config", str(cfg), timeout_s=20)
        migrate = arbiter("migrate", "--config", str(cfg))
    assert ran.rc == 1, (ran.rc, ran.out[-3000:])
    one_clear_line(ran, "a.db", "readonly")
    assert migrate.rc == 1, migrate.out  # `arbiter migrate` says so too (was: "version 64")
    one_clear_line(migrate, "readonly")


BAD = {  # what an operator's file may hold: each a problem `check-config` and `serve` both name
    "a-nan-grace": ("shutdown_grace_s = nan", "shutdown_grace_s = nan is outside"),
    "a-1e309-timeout": ("client_write_timeout_s = 1e309", "client_write_timeout_s = inf is"),
    "models-as-an-array": ('[[models.x]]\nupstream = "sim"', "models.x must be a table"),
    "a-table-twice": ('[server]\nlog_level = "info"', "Cannot declare ('server',) twice"),
    "an-unknown-upstream": (
        '[models.x]\nupstream = "nope"\nprice_in_per_mtok = 1\nprice_out_per_mtok = 1',
        "upstream 'nope' is not defined",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_config_and_serve_name_the_same_problems(tmp_path: Path, case: str) -> None:
    added, words = BAD[case]
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    if added.startswith("["):  # a table of its own, at the end
        cfg.write_text(f"{text}\n{added}\n")
    else:  # a [server] key, in that table
        cfg.write_text(text.replace("[server]\n", f"[server]\n{added}\n", 1))
    with ThreadPoolExecutor(2) as both:  # side by side: each is a Python start-up
        checking = both.submit(arbiter, "check-config", str(cfg))
        serve = both.submit(arbiter, "serve", "--config", str(cfg), timeout_s=20).result()
        check = checking.result()
    assert (check.rc, serve.rc) == (2, 2), (check.out, serve.out)
    assert "Traceback" not in check.out + serve.out
    problems = [line for line in check.lines if not line.endswith(("problem", "problems"))]
    assert any(words in p for p in problems), check.out
    assert serve.lines == [f"arbiter: config error: {p}" for p in problems]


@pytest.mark.parametrize("command", ["serve", "sim"])
def test_a_port_past_65535_on_the_command_line_is_status_2(tmp_path: Path, command: str) -> None:
    """server.port is checked, --port was not: `serve --port 99999` listened on 34463 (the bind
    took it modulo 65536) while its log said it ran on 99999."""
    args = ["--config", str(write_config(tmp_path))] if command == "serve" else []
    ran = arbiter(command, *args, "--port", "99999", timeout_s=15)
    assert ran.rc == 2, (ran.rc, ran.out[-2000:])
    assert ran.lines[-1].endswith("argument --port: 99999 is outside 0 .. 65535"), ran.lines


def test_a_postgresql_that_accepts_and_never_answers_is_a_bounded_start(tmp_path: Path) -> None:
    """A server (or a firewall's half-open port) that takes the connection and stays silent:
    `serve` and `migrate` each give up in bounded time, in one line, never a hang (held)."""
    with _held_port(reuse_port=False) as silent:  # the backlog accepts; nothing ever answers
        url = f"postgresql://arbiter@127.0.0.1:{silent.getsockname()[1]}/arbiter"
        cfg = write_config(tmp_path)
        cfg.write_text(cfg.read_text().replace(f"sqlite:///{tmp_path / 'a.db'}", url))
        t0 = time.monotonic()
        with ThreadPoolExecutor(2) as both:
            serving = both.submit(arbiter, "serve", "--config", str(cfg), timeout_s=40)
            migrate = both.submit(arbiter, "migrate", "--config", str(cfg), timeout_s=40).result()
            serve = serving.result()
        took = time.monotonic() - t0
    for ran in (serve, migrate):
        assert ran.rc == 1, (ran.rc, ran.out[-2000:])
        one_clear_line(ran, "cannot reach PostgreSQL", "timeout")
    assert took < 30, took
