"""A stream's pieces straight from our transport (upstream/transport.RawPieces): the pieces
httpx's aiter_raw gives, the response closed after the last and its connection reused; and a
piece that has come already is taken without a timer (the stream's deadline is armed only for a
piece that must be waited for)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from arbiter import shared_timeouts
from arbiter.config import UpstreamSettings
from arbiter.upstream.openai import _OpenAIStream
from arbiter.upstream.transport import H1Transport, RawPieces, raw_pieces

EVENTS = [
    b'data: {"choices": [{"index": 0, "delta": {"content": "w%d "}}]}\n\n' % i for i in range(20)
]
EVENTS.append(b"data: [DONE]\n\n")
STREAM = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in EVENTS) + b"0\r\n\r\n"
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
REQUEST = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


async def _with_upstream(go: Callable[[H1Transport, httpx.URL], Awaitable[Any]]) -> Any:
    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(ANSWER)
                for i in range(len(EVENTS)):  # one write per event: pieces, as a model sends
                    writer.write(b"%x\r\n%s\r\n" % (len(EVENTS[i]), EVENTS[i]))
                    await writer.drain()
                    await asyncio.sleep(0.001)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    url = httpx.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x")
    transport = H1Transport()
    try:
        return await go(transport, url)
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("wait_first", [False, True])
def test_the_same_pieces_as_httpx_then_closed_and_the_connection_reused(wait_first: bool) -> None:
    async def go(transport: H1Transport, url: httpx.URL) -> None:
        resp = await transport.send_bytes(url, REQUEST, {"read": 5.0})
        raw = raw_pieces(resp)
        assert isinstance(raw, RawPieces)
        if wait_first:
            await asyncio.sleep(0.3)  # every piece has come: ready() takes them all
        got: list[bytes] = []
        while True:
            piece = raw.ready()
            if piece is None:
                try:
                    piece = await raw.__anext__()
                except StopAsyncIteration:
                    break
            got.append(piece)
        assert b"".join(got) == b"".join(EVENTS)
        assert resp.is_closed and resp.is_stream_consumed
        assert resp.num_bytes_downloaded == len(b"".join(EVENTS))
        assert raw.ready() is None  # ended: the connection is not read again
        with pytest.raises(StopAsyncIteration):
            await raw.__anext__()
        # the same answer through httpx's own reading
        via = await transport.send_bytes(url, REQUEST, {"read": 5.0})
        assert b"".join([p async for p in via.aiter_raw()]) == b"".join(EVENTS)
        assert len(transport._pools) == 1
        (pool,) = transport._pools.values()
        assert len(pool.idle) == 1  # one connection, reused for the second answer

    asyncio.run(asyncio.wait_for(_with_upstream(go), 30))


def test_pieces_that_have_come_are_read_without_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = 0
    real = shared_timeouts.timeout

    def counting(delay: float | None) -> shared_timeouts.Timeout:
        nonlocal entered
        entered += 1
        return real(delay)

    own_timers = 0
    real_asyncio = asyncio.timeout

    def counting_asyncio(delay: float | None) -> asyncio.Timeout:
        nonlocal own_timers
        own_timers += 1
        return real_asyncio(delay)

    async def go(transport: H1Transport, url: httpx.URL) -> list[bytes]:
        resp = await transport.send_bytes(url, REQUEST, {"read": 5.0})
        stream = _OpenAIStream("m", resp, time.monotonic() + 30, UpstreamSettings("u", "x"))
        await asyncio.sleep(0.3)  # the whole answer has come
        monkeypatch.setattr(shared_timeouts, "timeout", counting)
        monkeypatch.setattr(asyncio, "timeout", counting_asyncio)
        events = [e async for e in stream.events()]
        assert stream.done  # read to its end event: the (empty) rest drained
        await stream.aclose()
        return events

    events = asyncio.run(asyncio.wait_for(_with_upstream(go), 30))
    assert len(events) >= len(EVENTS) - 1
    # one per piece before (the stream's deadline, entered around each): now only the drain's
    # wait for the end after the end event
    assert entered <= 1, entered
    assert own_timers == 0  # the drain's deadline is on the shared heap, not a timer per stream
