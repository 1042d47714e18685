"""A provider's call on its own transport writes its request without an httpx.Request (one per
call cost more than the rest of the send): the bytes on the wire must be exactly those the
httpx.Request path writes, with and without the caller's request id and beta header."""

from __future__ import annotations

import asyncio

import pytest

from arbiter import request_log
from arbiter.config import FailoverSettings, UpstreamSettings
from arbiter.upstream.anthropic import AnthropicUpstream
from arbiter.upstream.http import HTTPProvider
from arbiter.upstream.openai import OpenAIUpstream
from arbiter.upstream.transport import H1Transport


class _ViaHttpxRequest(H1Transport):
    """The same transport, taken by the provider for a foreign one: calls go through
    httpx.Request and handle_async_request, as before the direct path."""


async def _capture(call: object) -> list[bytes]:
    """The raw bytes of each request `call(url)` makes, each answered 200 {}."""
    got: list[bytes] = []
    ended: list[asyncio.Event] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = asyncio.Event()
        ended.append(done)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                got.append(head + await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await call(f"http://127.0.0.1:{port}/v1")  # type: ignore[operator]
        for done in ended:  # the client closed its connections: each handler sees the end
            await done.wait()
    finally:
        server.close()
        await server.wait_closed()
    return [g.replace(b":%d" % port, b":PORT") for g in got]  # the two servers' ports differ


def _providers(base: str, kind: str) -> tuple[HTTPProvider, HTTPProvider]:
    settings = UpstreamSettings("up", base, protocol=kind, api_key="sk-secret")  # type: ignore[arg-type]
    cls = OpenAIUpstream if kind == "openai" else AnthropicUpstream
    return cls(settings, FailoverSettings(), H1Transport()), cls(
        settings, FailoverSettings(), _ViaHttpxRequest()
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("logged", [False, True])
def test_direct_request_bytes_equal_the_httpx_request_path(kind: str, logged: bool) -> None:
    payload = b'{"model":"m","messages":[{"role":"user","content":"hi \xc3\xa9"}]}'

    async def one(direct: bool) -> list[bytes]:
        async def call(base: str) -> None:
            fast, slow = _providers(base, kind)
            provider = fast if direct else slow
            token = None
            if logged:
                ctx = request_log.RequestLog("req-123", "chat")
                ctx.anthropic_beta = "tools-2024-04-04"
                token = request_log.CURRENT.set(ctx)
            try:
                for url in (None, getattr(provider, "_url", None)):  # twice: the cached head
                    raw, _ = await provider._fetch(payload, "m", url)
                    assert raw == b"{}"
            finally:
                if token is not None:
                    request_log.CURRENT.reset(token)
                await provider.aclose()

        return await _capture(call)

    async def go() -> tuple[list[bytes], list[bytes]]:
        return await one(True), await one(False)

    sent, via_httpx = asyncio.run(go())
    assert len(sent) == 2 and sent == via_httpx
    direct = sent[0]
    assert direct.endswith(b"\r\n\r\n" + payload)
    assert (b"x-request-id: req-123\r\n" in direct) is logged
    assert (b"anthropic-beta: tools-2024-04-04\r\n" in direct) is (logged and kind == "anthropic")
