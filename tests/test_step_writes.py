"""The sidecar's uvicorn protocol sends what a response writes in one event-loop step together
(step_writes.py): the bytes must be unchanged, and what was written must go out at the step's
end even when nothing follows (a stream's head before its first event; an event before the
next), and before a close."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import Receive, Scope, Send

from arbiter.client_timeout import protocol_with_read_timeout


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/plain":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5"), (b"x-a", b"1")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"hello"})
    elif path == "/slow-stream":  # the head, then the body only once the client saw the head
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await scope["state"]["head_seen"].wait()
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
    elif path == "/events":  # several events in one step: one send, the same bytes
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"e%d" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/close":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2"), (b"connection", b"close")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"ok"})


async def _read_until(reader: asyncio.StreamReader, end: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(end), 10)


def test_head_and_body_bytes_unchanged_and_a_lone_head_is_not_held() -> None:
    async def go() -> None:
        head_seen = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                return
            scope["state"] = {"head_seen": head_seen}
            await _app(scope, receive, send)

        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, http=protocol_with_read_timeout(10.0),
            lifespan="off", log_level="warning", access_log=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen(16)  # a connect before uvicorn runs waits in the backlog
        task = asyncio.create_task(server.serve(sockets=[sock]))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await _read_until(reader, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"x-a: 1\r\n" in head
            assert await asyncio.wait_for(reader.readexactly(5), 10) == b"hello"
            # the same connection: a head whose body waits for the client to have seen it
            writer.write(b"GET /slow-stream HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await _read_until(reader, b"\r\n\r\n")  # were it held for the body: a timeout
            assert b"transfer-encoding: chunked" in head
            head_seen.set()
            assert await _read_until(reader, b"0\r\n\r\n") == b"4\r\nlate\r\n0\r\n\r\n"
            writer.write(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await _read_until(reader, b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            body = await _read_until(reader, b"0\r\n\r\n")
            assert body == b"2\r\ne0\r\n2\r\ne1\r\n2\r\ne2\r\n0\r\n\r\n"
            writer.write(b"GET /close HTTP/1.1\r\nhost: x\r\n\r\n")
            got = await asyncio.wait_for(reader.read(), 10)  # to EOF: sent, then closed
            assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\nok")
            # the protocol's own answer and close (a malformed request: 400) pass through too
            bad_reader, bad_writer = await asyncio.open_connection("127.0.0.1", port)
            bad_writer.write(b"NOT HTTP\r\n\r\n")
            got = await asyncio.wait_for(bad_reader.read(), 10)
            assert got.startswith(b"HTTP/1.1 400 "), got[:100]
            bad_writer.close()
            await bad_writer.wait_closed()
        finally:
            writer.close()
            await writer.wait_closed()
            server.should_exit = True
            await task
            sock.close()

    asyncio.run(asyncio.wait_for(go(), 30))
