"""The httpx transport under upstream calls: keep-alive reuse, streaming, timeouts, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from arbiter.upstream.transport import H1Transport
from tests.waiting import until_async

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return body


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    conns: list[int] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conns.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", conns


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


async def _echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await _read_request(reader)
        writer.write(_ok(b"echo:" + (body or b"")))
        await writer.drain()


def test_keep_alive_reuses_one_connection() -> None:
    async def go() -> None:
        server, url, conns = await _serve(_echo_forever)
        async with httpx.AsyncClient(transport=H1Transport(), base_url=url) as c:
            for i in range(20):
                r = await c.post("/x", content=b"%d" % i)
                assert r.status_code == 200 and r.content == b"echo:%d" % i
        assert len(conns) == 1
        server.close()

    run(go())


def test_chunked_stream_arrives_in_pieces() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(200):
            piece = b"data: %d\n\n" % i
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if i % 50 == 0:
                await writer.drain()
                await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await _read_request(reader)  # the connection was reused for a second request
        writer.write(_ok(b"second"))
        await writer.drain()

    async def go() -> None:
        server, url, conns = await _serve(chunked)
        async with httpx.AsyncClient(transport=H1Transport(), base_url=url) as c:
            async with c.stream("POST", "/s", content=b"{}") as r:
                lines = [ln async for ln in r.aiter_lines() if ln]
            assert lines[0] == "data: 0" and lines[-1] == "data: 199" and len(lines) == 200
            assert (await c.post("/again", content=b"")).content == b"second"
        assert len(conns) == 1
        server.close()

    run(go())


def test_read_timeout_and_cut_body_are_httpx_errors() -> None:
    async def slow_then_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.5)

    async def go() -> None:
        server, url, _ = await _serve(slow_then_cut)
        async with httpx.AsyncClient(transport=H1Transport(), base_url=url) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post("/x", content=b"", timeout=httpx.Timeout(0.2))
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post("/x", content=b"", timeout=httpx.Timeout(2.0))
        server.close()

    run(go())


def test_connect_error_and_malformed_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    async def go() -> None:
        server, url, _ = await _serve(garbage)
        async with httpx.AsyncClient(transport=H1Transport(), base_url=url) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post("/x", content=b"")
        server.close()
        await server.wait_closed()
        async with httpx.AsyncClient(transport=H1Transport(), base_url=url) as c:
            with pytest.raises(httpx.ConnectError):
                await c.post("/x", content=b"")

    run(go())


def test_a_server_closed_idle_connection_is_retried_once_on_a_fresh_one() -> None:
    async def one_per_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_ok(b"ok"))  # says keep-alive, then closes without telling
        await writer.drain()

    async def go() -> None:
        server, url, conns = await _serve(one_per_conn)
        transport = H1Transport()
        async with httpx.AsyncClient(transport=transport, base_url=url) as c:
            for _ in range(5):
                assert (await c.post("/x", content=b"")).content == b"ok"
        assert len(conns) == 5
        server.close()

    run(go())


def test_pool_limit_waits_then_times_out() -> None:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(1.0)
        writer.write(_ok(b"late"))
        await writer.drain()

    async def go() -> None:
        server, url, _ = await _serve(hold)
        t = httpx.Timeout(5.0, pool=0.2)
        async with httpx.AsyncClient(
            transport=H1Transport(max_connections_per_origin=1), base_url=url, timeout=t
        ) as c:
            first = asyncio.create_task(c.post("/x", content=b""))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await c.post("/y", content=b"")
            assert (await first).content == b"late"
        server.close()

    run(go())


def test_a_response_read_slowly_buffers_about_a_mebibyte_not_a_chunk_count() -> None:
    """Back-pressure by bytes: 64 reads of up to 256 KiB each would hold 16 MiB per response."""
    size = 32 * 1024 * 1024

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        block = b"x" * (1024 * 1024)
        for _ in range(32):
            writer.write(block)
            await writer.drain()

    async def go() -> None:
        server, url, _ = await _serve(flood)
        transport = H1Transport()
        r = await transport.handle_async_request(httpx.Request("POST", url + "/big", content=b"{}"))
        conn = r.stream._conn  # type: ignore[attr-defined]
        # the server writes as fast as it can; nobody reads: the transport stops reading
        await until_async(lambda: conn._paused, "reading never paused for an unread response")
        buffered = sum(len(c) for c in conn._chunks if isinstance(c, bytes))
        assert buffered <= 1024 * 1024 + 256 * 1024  # the mark plus one read
        got = 0
        async for piece in r.stream:  # type: ignore[union-attr]
            got += len(piece)
        await r.aclose()
        assert got == size
        await transport.aclose()
        server.close()

    run(go())
