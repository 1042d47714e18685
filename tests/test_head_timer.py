"""The request head's read timeout (client_timeout.py) arms a timer only for a head that a read
did not bring whole: a keep-alive client's heads arrive in one piece, and a timer armed and
cancelled around each was two timer operations per request for nothing. A head that stalls,
on a new connection or a reused one, still gets its 408 and the close."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope, Send

from tests.fake_connection import connect
from tests.waiting import until_async

WHOLE = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def test_whole_heads_arm_no_timer_and_a_stalled_one_on_a_reused_connection_gets_408() -> None:
    async def go() -> None:
        proto, transport, loop = connect(_ok, read_timeout_s=0.2)
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
