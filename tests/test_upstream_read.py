"""read_at_most reads our transport's body directly (no httpx async generators): the same bytes
as httpx's aiter_bytes for plain and chunked bodies, None past the limit, and a compressed body
still decoded by httpx."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest

from arbiter.upstream.http import read_at_most
from arbiter.upstream.transport import H1Transport, PooledBody

BODY = b'{"choices": [{"message": {"content": "' + b"x" * 5000 + b'"}}]}'


def _answers() -> dict[str, bytes]:
    chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (BODY[:100], BODY[100:])) + b"0\r\n\r\n"
    )
    zipped = gzip.compress(BODY)
    return {
        "plain": b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY),
        "chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked,
        "gzip": b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s"
        % (len(zipped), zipped),
    }


@pytest.mark.parametrize("kind", ["plain", "chunked", "gzip"])
@pytest.mark.parametrize("limit", [10 * len(BODY), len(BODY), len(BODY) - 1, 50])
def test_read_at_most_matches_httpx(kind: str, limit: int) -> None:
    answer = _answers()[kind]

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def go() -> tuple[bytes | None, bytes | None, bool]:
        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        url = httpx.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x")
        transport = H1Transport()
        try:
            direct = await transport.send_bytes(url, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n", {})
            assert isinstance(direct.stream, PooledBody)
            got = await read_at_most(direct, limit)
            await direct.aclose()
            # the same answer through httpx's own reading
            via = await transport.send_bytes(url, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n", {})
            pieces: list[bytes] = []
            async for piece in via.aiter_bytes():
                pieces.append(piece)
            await via.aclose()
            whole = b"".join(pieces)
            return got, whole, len(whole) > limit
        finally:
            await transport.aclose()
            server.close()
            await server.wait_closed()

    got, whole, over = asyncio.run(asyncio.wait_for(go(), 20))
    assert whole == BODY
    assert got == (None if over else BODY)
