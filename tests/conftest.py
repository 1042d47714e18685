"""Shared fixtures: a live simulated upstream and live sidecars, as child processes on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from arbiter import tokenizer_load
from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on, unheld_port
from arbiter.offline.demo import (
    ADMIN_KEY_ENV,
    API_KEY_ENV,
    _wait_http,
    demo_config,
    demo_settings,
    sim_config,
)
from arbiter.toml_text import to_toml
from tests.child_process import die_with_parent
from tests.gc_per_test import freeze_survivors

# a leak (an unclosed socket in a reference cycle) fails the test that made it: gc_per_test.py;
# the dashboard tests' `browser` fixture: browser.py
pytest_plugins = ["tests.gc_per_test", "tests.long_files_first", "tests.browser"]

# Hypothesis's too_slow health check times the generation of examples on the wall clock: on a
# loaded 2-core CI machine it fails a test whose code is fine. It says nothing about the code
# under test (every property test here already sets deadline=None for the same reason).
settings.register_profile("arbiter", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("arbiter")

# Ctrl-C tests send SIGINT to child processes, which answer it as a terminal's Ctrl-C only if
# they start with SIGINT's default disposition. A suite started in the background by a shell
# without job control (`cmd &` in a script, some CI runners) inherits SIGINT *ignored*, and an
# ignored signal stays ignored across exec: every child would then shrug the test's Ctrl-C off.
# A handler (unlike SIG_IGN) is reset to the default at exec, so the children start as from a
# terminal whatever started the suite.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ADMIN_KEY = "adm-test-" + os.urandom(8).hex()
ENV = {**os.environ, API_KEY_ENV: "sim-test-key", ADMIN_KEY_ENV: ADMIN_KEY}


class Proc:
    """A child process in its own session, stopped by signal (SIGTERM, or SIGKILL to crash it);
    it dies with the test process (`die_with_parent`), so a killed pytest leaves no server.
    With `listener` (its args name it: `fd_args`) the child serves on that socket, held from
    the port's choice on (inherited_socket.py); `start` hands it over, and a restart (after
    `stop`, or a crash) hands over a new one on the same port."""

    def __init__(
        self,
        args: list[str],
        health_url: str,
        env: dict[str, str] | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        self.args = args
        self.health_url = health_url
        self.env = env or ENV
        self.listener = listener
        self.port = None if listener is None else port_of(listener)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        if self.listener is not None and self.listener.fileno() == -1:  # handed over before
            self.listener = loopback_listener(port=self.port or 0)
        if self.listener is None:
            self.proc = subprocess.Popen(
                self.args, env=self.env, start_new_session=True, preexec_fn=die_with_parent()
            )
        else:
            self.proc = spawn_on(
                self.listener, self.args, self.env,
                start_new_session=True, preexec_fn=die_with_parent(),
            )  # fmt: skip
        _wait_http(self.health_url, self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.listener is not None:
            self.listener.close()  # never started: the port goes back; else a no-op
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_sim(config: Path, env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """`arbiter sim --config config` serving on a socket held from the port's choice on: the
    running Proc and its root URL (http://127.0.0.1:PORT; the OpenAI base URL adds /v1)."""
    sock = loopback_listener()
    root = f"http://127.0.0.1:{port_of(sock)}"
    args = [sys.executable, "-m", "arbiter", "sim", "--config", str(config), *fd_args(sock)]
    return Proc(args, f"{root}/v1/models", env, listener=sock).start(), root


@pytest.fixture(scope="session", autouse=True)
def _tokenizer_loaded() -> None:
    """The budget tokenizer's tables built before any test, as a running sidecar builds them at
    its start (tokenizer_load.py): a count on the loop is exact whichever test comes first
    (before they are built it is a byte bound: tests/test_tokenizer_load.py, in fresh
    interpreters)."""
    tokenizer_load.load_now()
    freeze_survivors()  # the tables and the modules live all session: each test's gc skips them


@pytest.fixture(scope="session")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cfg = tmp_path_factory.mktemp("sim") / "sim.toml"
    cfg.write_text(sim_config())
    proc, root = start_sim(cfg)
    yield f"{root}/v1"
    proc.stop()


class Sidecar:
    def edit_config(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Rewrite the config file with `change` applied to its parsed document (a reload
        test's next file; the sidecar sees it on SIGHUP or the reload endpoint)."""
        doc = tomllib.loads(self.config_path.read_text())
        change(doc)
        self.config_path.write_text(to_toml(doc))

    def __init__(
        self, config_path: Path, env: dict[str, str] | None = None, reuseport: bool = False
    ) -> None:
        """`reuseport`: serve on `--port` (a port free now), not an inherited socket: under
        `server.workers` each worker then binds its own SO_REUSEPORT socket and the kernel
        spreads new connections over them by their addresses; on one inherited socket the
        worker that wakes first accepts, which may be the same one every time."""
        self.config_path = config_path
        sock = None if reuseport else loopback_listener()  # the port ours from here on
        self.port = unheld_port() if sock is None else port_of(sock)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.root_url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "arbiter", "serve", "--config", str(config_path)]
        args += ["--port", str(self.port)] if sock is None else fd_args(sock)
        self.proc = Proc(args, f"{self.root_url}/healthz", env, listener=sock)

    def start(self) -> Sidecar:
        self.proc.start()
        return self

    def create_key(self, tenant: str = "default", **extra: object) -> dict[str, object]:
        r = httpx.post(
            f"{self.root_url}/arbiter/admin/keys",
            json={"tenant": tenant, **extra},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        )
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def admin(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.root_url}{path}",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            **kwargs,
        )  # type: ignore[arg-type]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.stop(sig)


def open_sidecar(
    tmp: Path, sim_url: str, edit: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[Sidecar]:
    """For a module-scoped fixture: a sidecar on the demo's settings without auth, in front of
    the session's sim, its config (edited by `edit`) and store in `tmp`; stopped at the end."""
    doc = demo_settings(sim_url, tmp / "a.db", auth=False)
    if edit is not None:
        edit(doc)
    cfg = tmp / "arbiter.toml"
    cfg.write_text(to_toml(doc))
    s = Sidecar(cfg).start()
    yield s
    s.stop()


@pytest.fixture
def sidecar_config(tmp_path: Path, sim_url: str) -> Path:
    path = tmp_path / "arbiter.toml"
    path.write_text(demo_config(sim_url, tmp_path / "arbiter.db"))
    return path


@pytest.fixture
def sidecar(sidecar_config: Path) -> Iterator[Sidecar]:
    s = Sidecar(sidecar_config).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def module_sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    """The `sidecar` fixture's sidecar (same config), started once for a module whose tests
    only read back what each one sent (its own decision ids, its own fresh `api_key`): each
    start costs a few seconds of a loaded CI core. A module opts in by overriding `sidecar`
    with it; a test that changes the sidecar's state (keys revoked, budgets, counters it
    compares) keeps a sidecar of its own."""
    tmp = tmp_path_factory.mktemp("sidecar")
    path = tmp / "arbiter.toml"
    path.write_text(demo_config(sim_url, tmp / "arbiter.db"))
    s = Sidecar(path).start()
    yield s
    s.stop()


@pytest.fixture
def api_key(sidecar: Sidecar) -> str:
    """A fresh client key (tenant "default") on the `sidecar` fixture."""
    return str(sidecar.create_key("default")["key"])
