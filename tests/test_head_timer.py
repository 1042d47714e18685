"""The request head's read timeout (client_timeout.py) arms a timer only for a head that a read
did not bring whole: a keep-alive client's heads arrive in one piece, and a timer armed and
cancelled around each was two timer operations per request for nothing. A head that stalls,
on a new connection or a reused one, still gets its 408 and the close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from arbiter.client_timeout import protocol_with_read_timeout
from tests.waiting import until_async

WHOLE = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


class _Transport(asyncio.Transport):
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


class _Loop:
    """The running loop, counting the head timers the protocol arms."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.head_timers = 0

    def _count(self, callback: Callable[..., object]) -> None:
        self.head_timers += getattr(callback, "__name__", "") == "_too_slow"

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        self._count(callback)
        return self._loop.call_later(delay, callback, *args)

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Any:
        self._count(callback)
        return self._loop.call_at(when, callback, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


def test_whole_heads_arm_no_timer_and_a_stalled_one_on_a_reused_connection_gets_408() -> None:
    async def go() -> None:
        config = uvicorn.Config(_ok, http=protocol_with_read_timeout(0.2), lifespan="off",
                                log_level="warning", access_log=False)  # fmt: skip
        config.load()
        loop = _Loop(asyncio.get_running_loop())
        proto = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        transport = _Transport()
        proto.connection_made(transport)
        assert loop.head_timers == 1  # a new connection: its first head is timed from the connect
        for n in range(1, 4):
            proto.data_received(WHOLE)
            await until_async(lambda n=n: transport.out.count(b"HTTP/1.1 200") == n, "answered")
        assert loop.head_timers == 1  # three whole heads: no timer of their own
        proto.data_received(b"GET /x HTTP/1.1\r\nho")  # half a head, then nothing
        assert loop.head_timers == 2
        await until_async(lambda: transport.closing, "closed after the head's timeout")
        assert b"HTTP/1.1 408 Request Timeout\r\n" in transport.out
        proto.connection_lost(None)

    asyncio.run(go())
