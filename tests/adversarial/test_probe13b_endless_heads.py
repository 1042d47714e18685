"""Outside probe (thirteenth session): an upstream whose response head never ends.

The transport's parser (httptools) has no bound on a response head and joins a header value's
pieces by copying them: one 32 MB header cost 4.8 s of event-loop CPU (quadratic: 16 MB 1.2 s),
and a head of endless header lines grew until the read timeout (120 s for a whole answer). The
transport now refuses a head past MAX_HEAD_BYTES (64 KiB; h11, httpx's own parser, stops at
16 KiB) and drops the connection: a RemoteProtocolError, which the providers map to a 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arbiter.upstream.transport import MAX_HEAD_BYTES, H1Transport
from tests.adversarial.hostile_upstream import Answer, fast_failover, scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

PIECE = 64 * 1024
ENDLESS = 24 << 20  # "endless": far past any head, and past the socket buffers between us


def _one_long_header(sent: list[int]) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nx-pad: ")
        while sent[0] < ENDLESS:
            writer.write(b"a" * PIECE)
            await writer.drain()
            sent[0] += PIECE
        writer.write(b"\r\ncontent-length: 2\r\n\r\n{}")

    return answer


def _endless_header_lines(sent: list[int]) -> Answer:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        line = b"x-pad: " + b"b" * 90 + b"\r\n"
        while sent[0] < ENDLESS:
            writer.write(line * (PIECE // len(line)))
            await writer.drain()
            sent[0] += PIECE
        writer.write(b"content-length: 2\r\n\r\n{}")

    return answer


@pytest.mark.parametrize("make", [_one_long_header, _endless_header_lines])
def test_a_head_past_the_limit_is_refused_and_the_connection_dropped(
    make: Callable[[list[int]], Answer],
) -> None:
    sent = [0]

    async def main() -> None:
        async with scripted_upstream(make(sent)) as (port, _):
            transport = H1Transport()
            async with httpx.AsyncClient(
                transport=transport, base_url=f"http://127.0.0.1:{port}"
            ) as client:
                with pytest.raises(httpx.RemoteProtocolError, match="response head larger"):
                    await client.post("/v1/x", content=b"{}", timeout=httpx.Timeout(20.0))
        # the upstream was cut off long before it could send all of it
        assert sent[0] < ENDLESS

    asyncio.run(main())


def test_a_head_a_little_under_the_limit_is_read() -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        pad = b"x-pad: " + b"c" * (MAX_HEAD_BYTES - 200) + b"\r\n"
        writer.write(b"HTTP/1.1 200 OK\r\n" + pad + b"content-length: 2\r\n\r\n{}")

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, _),
            httpx.AsyncClient(
                transport=H1Transport(), base_url=f"http://127.0.0.1:{port}"
            ) as client,
        ):
            r = await client.post("/v1/x", content=b"{}")
        assert r.status_code == 200
        assert r.content == b"{}"

    asyncio.run(main())


def test_the_client_gets_a_503_in_its_shape(tmp_path: Path) -> None:
    sent = [0]

    async def main() -> None:
        async with scripted_upstream(_one_long_header(sent)) as (port, _):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(edit(t))
            ) as sc:
                chat = {"model": "oa-raw", "messages": [{"role": "user", "content": "Hi"}]}
                r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "upstream_unavailable"
        assert r.headers["x-should-retry"] == "true"
        assert sent[0] < ENDLESS

    asyncio.run(main())
