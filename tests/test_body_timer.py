"""`read_body` arms its read timeout only while the body is still arriving (the sidecar's
protocol says, client_connection.py): a body that came whole with its head, as nearly every
keep-alive client's does, needs no timer armed and cancelled around it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from arbiter import request_body
from tests.fake_connection import connect
from tests.waiting import until_async

BODY = b'{"model": "auto"}'
HEAD = b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(BODY)


def test_a_whole_body_is_read_without_a_timer_and_a_late_one_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timers: list[float | None] = []
    real_timeout = asyncio.timeout

    @contextlib.asynccontextmanager
    async def counted(delay: float | None) -> AsyncIterator[None]:
        timers.append(delay)
        async with real_timeout(delay):
            yield

    monkeypatch.setattr(request_body.asyncio, "timeout", counted)
    bodies: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = SimpleNamespace(state=SimpleNamespace(client_read_timeout_s=10.0))
        bodies.append(await request_body.read_body(Request(scope, receive), 1024))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def go() -> None:
        proto, transport, _ = connect(app)
        proto.data_received(HEAD + BODY)  # head and body in one read
        await until_async(lambda: len(bodies) == 1, "the first body read")
        assert bodies == [BODY] and timers == []
        await until_async(lambda: b"204" in transport.out, "answered")
        proto.data_received(HEAD + BODY[:5])  # the body's rest comes later
        await asyncio.sleep(0.05)
        proto.data_received(BODY[5:])
        await until_async(lambda: len(bodies) == 2, "the second body read")
        assert bodies[1] == BODY and timers == [10.0]
        proto.connection_lost(None)

    asyncio.run(go())
