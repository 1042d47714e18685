"""A scripted upstream on 127.0.0.1 for the hostile-upstream probes (thirteenth session): it reads
one whole request, then `answer(writer)` writes whatever bytes the probe wants, however slowly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import openai

from tests.inproc import raw_anthropic_upstream, raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def response(head: bytes, body: bytes) -> bytes:
    """A whole HTTP/1.1 response: status line and headers `head` (no final CRLF), its length."""
    return b"HTTP/1.1 " + head + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body


@asynccontextmanager
async def scripted_upstream(
    answer: Answer, mark: bytes | None = None
) -> AsyncIterator[tuple[int, list[int]]]:
    """The port it listens on and a one-item list counting the requests it was sent. With
    `mark`, a request whose body lacks it is not the test's: it is closed unanswered and not
    counted. A port is the kernel's pick, and it may be one another test's server left a moment
    ago (a sim stopped for an outage): that test's sidecar then retries here (suite26: a judge
    cell counted 3 calls where the product can make 2 at most)."""
    calls = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,  # a GET
            )
            body = await reader.readexactly(length)
            if mark is not None and mark not in body:
                return  # another test's request (closed in `finally`)
            calls[0] += 1
            await answer(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the sidecar gave up on us: what the probe checks is its answer
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], calls
    finally:
        server.close()


def stream_then_whole(sse: bytes, whole: bytes) -> Answer:
    """`sse` as a stream on even calls, `whole` as a JSON answer on odd ones: each test asks
    streamed, then whole, in turn (the scripted socket does not read the request's `stream`)."""
    calls = [0]

    async def answer(writer: asyncio.StreamWriter) -> None:
        body, kind = (
            (sse, b"text/event-stream") if calls[0] % 2 == 0 else (whole, b"application/json")
        )
        calls[0] += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: " + kind
            + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )  # fmt: skip

    return answer


@asynccontextmanager
async def raw_sidecar(
    tmp_path: Path, protocol: str, sse: bytes, whole: bytes
) -> AsyncIterator[tuple[anthropic.AsyncAnthropic, openai.AsyncOpenAI]]:
    """An in-process sidecar whose raw model (`oa-raw`, `protocol` "openai"; `an-raw`,
    "anthropic") is served by this upstream answering `stream_then_whole(sse, whole)`; the
    SDKs on it."""
    edit = {"openai": raw_openai_upstream, "anthropic": raw_anthropic_upstream}[protocol]
    async with (
        scripted_upstream(stream_then_whole(sse, whole)) as (port, _),
        sidecar_in_process(tmp_path, edit_config=edit(port)) as sc,
        sdks(sc) as (claude, gpt),
    ):
        yield claude, gpt


def fast_failover(text: str) -> str:
    """Short timeouts and no retries, so a probe of a stalled upstream ends in seconds."""
    return text + (
        "\n[failover]\ntotal_timeout_s = 3.0\nfirst_byte_timeout_s = 2.0\nretries_per_model = 0\n"
    )


KeptAnswer = Callable[[asyncio.StreamWriter, bytes], Awaitable[None]]


@asynccontextmanager
async def keep_alive_upstream(answer: KeptAnswer) -> AsyncIterator[tuple[int, list[int]]]:
    """As scripted_upstream, but serving requests one after another on each connection until
    the peer closes it (or `answer` does), as a keep-alive server does; `answer` also gets the
    request's body. The port, and the count of requests it was sent."""
    calls = [0]
    handlers: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        writers.append(writer)
        try:
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                calls[0] += 1
                await answer(writer, body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the peer closed the connection: the end of its requests
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], calls
    finally:
        server.close()
        # connections still open end here (their reads see the close), not cancelled at the
        # loop's shutdown, which asyncio's stream callback logs as an error
        for writer in writers:
            writer.close()
        if handlers:
            await asyncio.wait(handlers, timeout=5.0)
