"""A sidecar served by uvicorn on a loopback socket in a thread of the test process, its Services
built here so that a test can hand the circuit breaker a clock it moves itself.

For the end-to-end tests whose subject is time (a circuit's cool-down): against a child process
they had to sleep through real cool-downs and hope the requests in between took less than one,
which a loaded host broke. Everything else is as in a child: the same app, lifespan, writer
process, HTTP over a socket, and the same URLs as `tests.conftest.Sidecar`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import uvicorn

from arbiter import config
from arbiter.inherited_socket import loopback_listener, port_of
from arbiter.server import build_app
from arbiter.services import Services
from tests.conftest import ENV

START_LIMIT_S = 60.0  # a generous bound for the lifespan's start on a loaded host


class TestClock:
    """Monotonic seconds that move only when the test says so."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ThreadedSidecar:
    """`arbiter serve` for `config_path`, in this process; `breaker_clock` times its circuits."""

    def __init__(self, config_path: Path, *, breaker_clock: TestClock) -> None:
        self._sock = loopback_listener()
        self.port = port_of(self._sock)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.root_url = f"http://127.0.0.1:{self.port}"
        settings = config.load(config_path, env=ENV)
        # the address served, as the app's Host check knows it (what `serve --fd` does)
        served = dataclasses.replace(settings.server, host="127.0.0.1", port=self.port)
        settings = dataclasses.replace(settings, server=served)
        self.services = Services(settings, breaker_clock=breaker_clock)
        app = build_app(settings, services=self.services)
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedSidecar:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_LIMIT_S
        while not self._server.started:
            assert self._thread.is_alive(), "the sidecar's server stopped while starting"
            assert time.monotonic() < deadline, "the sidecar did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._sock.close()
