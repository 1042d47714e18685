"""The sidecar's uvicorn protocol (client_timeout.py) on an in-memory connection: no socket, so
a test can feed it bytes, read what it wrote, count the timers it arms and lose the
connection when it likes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from arbiter.client_timeout import protocol_with_read_timeout


class FakeTransport(asyncio.Transport):
    """What the protocol writes, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: Any) -> None:
        self.out += data

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.out += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


# the keep-alive timer's callback: uvicorn's own, or lazy_keep_alive.py's
_KEEP_ALIVE_CALLBACKS = ("timeout_keep_alive_handler", "_keep_alive_due")


class CountingLoop:
    """The running loop, counting the request-head and keep-alive timers the protocol arms."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.head_timers = 0
        self.keep_alive_timers = 0

    def _count(self, callback: Callable[..., object]) -> None:
        name = getattr(callback, "__name__", "")
        self.head_timers += name == "_too_slow"
        self.keep_alive_timers += name in _KEEP_ALIVE_CALLBACKS

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        self._count(callback)
        return self._loop.call_later(delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Any:
        self._count(callback)
        return self._loop.call_at(when, callback, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


def connect(
    app: ASGIApp, read_timeout_s: float = 10.0, keep_alive_s: float = 5.0
) -> tuple[HttpToolsProtocol, FakeTransport, CountingLoop]:
    """A connection made to `app` through the sidecar's protocol (call on a running loop)."""
    config = uvicorn.Config(app, http=protocol_with_read_timeout(read_timeout_s),
                            lifespan="off", log_level="warning", access_log=False,
                            timeout_keep_alive=keep_alive_s)  # type: ignore[arg-type]  # fmt: skip
    config.load()
    loop = CountingLoop(asyncio.get_running_loop())
    proto = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = FakeTransport()
    proto.connection_made(transport)
    return proto, transport, loop  # type: ignore[return-value]
