"""Outside probe (seventeenth session): an upstream whose answer's body ends at the connection's
close: an HTTP/1.0 server (Python's http.server, a simple proxy), or an HTTP/1.1 one that sends
`Connection: close` and neither Content-Length nor chunked framing (RFC 9112 6.3, rule 8).

The transport's parser (httptools) is told of no EOF, so such a body never "completed": every
answer, whole or streamed, whatever its protocol, failed as "upstream closed the connection"
(a 503, a failover, a strike against the model's circuit) though it had arrived whole. The
close now ends such a body; a reset does not (the answer is an error, not a cut-short success),
and a body cut short by the close is still no answer (malformed JSON, a stream without its end
event)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arbiter.canonical import Protocol
from arbiter.upstream.transport import H1Transport
from tests.adversarial.hostile_upstream import fast_failover, scripted_upstream
from tests.adversarial.upstream_answers import answer, answer_text
from tests.inproc import raw_anthropic_upstream, raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(90)

HEADS = {
    "http10": b"HTTP/1.0 200 OK\r\ncontent-type: %s\r\n\r\n",
    "http11-close": b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: %s\r\n\r\n",
}
CASES = [
    ("openai", "/v1/chat/completions", "oa-raw", raw_openai_upstream),
    ("anthropic", "/v1/messages", "an-raw", raw_anthropic_upstream),
]


def _until_close(head: bytes, media: bytes, body: bytes, *, pieces: int = 1) -> object:
    """The head, then the body in `pieces` writes a little apart, then the close."""

    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(head % media)
        step = max(1, -(-len(body) // pieces))
        for at in range(0, len(body), step):
            writer.write(body[at : at + step])
            await writer.drain()
            await asyncio.sleep(0.02)
        # scripted_upstream closes the connection once this returns: the body's end

    return respond


@pytest.mark.parametrize("head", list(HEADS), ids=list(HEADS))
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("protocol", "path", "model", "edit"), CASES, ids=["openai", "anthropic"])
def test_an_answer_ended_by_the_close_is_answered(
    tmp_path: Path,
    protocol: Protocol,
    path: str,
    model: str,
    edit: Callable[[int], Callable[[str], str]],
    stream: bool,
    head: str,
) -> None:
    media, body = answer(protocol, "all of it", stream=stream)

    async def main() -> None:
        respond = _until_close(HEADS[head], media, body, pieces=4)
        async with scripted_upstream(respond) as (port, calls):  # type: ignore[arg-type]
            config = edit(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(config(t))
            ) as sc:
                request = {
                    "model": model, "max_tokens": 50, "stream": stream,
                    "messages": [{"role": "user", "content": "Hi"}],
                }  # fmt: skip
                r = await sc.client.post(path, json=request, headers=sc.auth_for(path))
        assert r.status_code == 200, r.text
        assert answer_text(protocol, stream, r.content) == "all of it"
        if stream:
            assert b"error" not in r.content
        assert calls[0] == 1

    asyncio.run(main())


async def _post(port: int) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=H1Transport(), base_url=f"http://127.0.0.1:{port}"
    ) as client:
        return await client.post("/v1/x", content=b"{}", timeout=httpx.Timeout(5.0))


def test_a_body_cut_by_the_close_is_what_came_and_no_answer(tmp_path: Path) -> None:
    """The close is the end, so a body cut short reads as the bytes that came: a whole JSON
    answer that is not one is malformed, the caller's clean 502."""
    _, whole = answer("openai", "cut", stream=False)

    async def main() -> None:
        respond = _until_close(HEADS["http10"], b"application/json", whole[: len(whole) // 2])
        async with scripted_upstream(respond) as (port, _):  # type: ignore[arg-type]
            config = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(config(t))
            ) as sc:
                request = {"model": "oa-raw", "messages": [{"role": "user", "content": "Hi"}]}
                r = await sc.client.post("/v1/chat/completions", json=request, headers=sc.auth)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["message"] == "oa-raw: malformed answer from upstream"

    asyncio.run(main())


def test_a_reset_is_not_the_end_of_a_body_delimited_by_the_close() -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(HEADS["http10"] % b"application/json" + b'{"partial": ')
        await writer.drain()
        await asyncio.sleep(0.1)
        sock = writer.get_extra_info("socket")
        # linger 0: the close sends RST, not FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def main() -> None:
        async with (
            scripted_upstream(respond) as (port, _),
            httpx.AsyncClient(
                transport=H1Transport(), base_url=f"http://127.0.0.1:{port}"
            ) as client,
        ):
            r = await client.send(client.build_request("POST", "/v1/x", content=b"{}"), stream=True)
            with pytest.raises(httpx.RemoteProtocolError, match="closed the connection"):
                await r.aread()

    asyncio.run(main())


def test_a_length_or_chunked_framing_still_needs_its_end() -> None:
    """Only a body with no declared length ends at the close: one that declared a length or
    chunks and stops short is the error it was."""
    heads = [
        b"HTTP/1.0 200 OK\r\ncontent-length: 50\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n",
    ]
    for raw in heads:

        async def respond(writer: asyncio.StreamWriter, raw: bytes = raw) -> None:
            writer.write(raw)

        async def main() -> None:
            async with scripted_upstream(respond) as (port, _):
                with pytest.raises(httpx.RemoteProtocolError, match="closed the connection"):
                    await _post(port)

        asyncio.run(main())
