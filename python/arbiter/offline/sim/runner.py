"""Running the simulator: blocking (`run_sim`, for the CLI) or in a background thread (tests, demo).

Always binds the host it is given (127.0.0.1 by default); an ephemeral port when port is 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType, TracebackType

import uvicorn
from starlette.applications import Starlette

from arbiter.offline.sim.config import SimConfig, default_pool, load_config
from arbiter.offline.sim.server import build_app
from arbiter.offline.sim.state import SimState

logger = logging.getLogger(__name__)
_START_TIMEOUT_S = 15.0


class _HideDeliberateCuts(logging.Filter):
    """uvicorn reports a stream the simulator cut on purpose as an error; drop that record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


class _Server(uvicorn.Server):
    """A uvicorn server for which SIGINT/SIGTERM mean "shut down and return" (exit status 0)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C skips the graceful wait
        self.should_exit = True


def _uvicorn_config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


def run_sim(
    config_path: str | None,
    host: str = "127.0.0.1",
    port: int = 8090,
    log_level: str = "warning",
    *,
    latency_scale: float | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve the simulator until SIGINT/SIGTERM (uvicorn's handlers); blocking. `sock`: an
    inherited listening socket to serve on instead of binding host and port."""
    config = load_config(config_path)
    if latency_scale is not None:
        config = dataclasses.replace(config, latency_scale=latency_scale)
    cut_filter = _HideDeliberateCuts()
    logging.getLogger("uvicorn.error").addFilter(cut_filter)
    logger.info(
        "arbiter sim starting", extra={"host": host, "port": port, "models": list(config.models)}
    )
    try:
        if sock is not None:
            host, port = sock.getsockname()[:2]
        server = _Server(_uvicorn_config(build_app(config), host, port, log_level))
        server.run(sockets=None if sock is None else [sock])
    finally:
        logging.getLogger("uvicorn.error").removeFilter(cut_filter)


class SimServer:
    """The simulator in a background thread: `port = server.start()`, then `server.stop()`."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config if config is not None else default_pool()
        self.host = host
        self.port = port
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._app: Starlette | None = None
        self._thread: threading.Thread | None = None
        self._filter = _HideDeliberateCuts()

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Also the Anthropic base URL (the anthropic SDK appends /v1/messages)."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SimState:
        """The live state (read it from tests; it is mutated on the server's thread)."""
        if self._app is None:
            raise RuntimeError("the simulator is not running")
        state: SimState = self._app.state.sim
        return state

    def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._app = build_app(self.config)
        server = uvicorn.Server(_uvicorn_config(self._app, self.host, self.port, self._log_level))
        logging.getLogger("uvicorn.error").addFilter(self._filter)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"arbiter-sim-{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self.port

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        self._app = None
        logging.getLogger("uvicorn.error").removeFilter(self._filter)

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@asynccontextmanager
async def sim_running(config: SimConfig | None = None) -> AsyncIterator[SimServer]:
    """`async with sim_running(cfg) as sim:` ... `sim.base_url` (runs in its own thread)."""
    server = SimServer(config)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
