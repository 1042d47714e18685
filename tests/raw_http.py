"""Raw HTTP/1.1 over a socket on 127.0.0.1: the transport probes' one reader of a sidecar's
answer, and a loopback upstream that answers by a probe's own handler."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Handle = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def read_all(sock: socket.socket) -> bytes:
    """Everything until the sidecar closes; a reset, or a kept-alive connection's read timeout,
    ends it too: what came before is the answer."""
    got = b""
    try:
        while piece := sock.recv(65536):
            got += piece
    except (ConnectionResetError, TimeoutError):
        pass
    return got


def exchange(port: int, sent: bytes, timeout: float = 10.0) -> bytes:
    """Send `sent` on a fresh connection and read the answer (read_all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(sent)
        return read_all(sock)


def send_past(sock: socket.socket, line: bytes, limit: int) -> None:
    """Send `line` over and over a little past `limit` bytes (so the answer is read while the
    sidecar still drains the rest: no reset on a loaded machine); a close under us ends it."""
    sent = 0
    try:
        while sent < limit + 4 * len(line):
            sock.sendall(line)
            sent += len(line)
    except OSError:
        pass  # closed under us: what it answered is still readable


@asynccontextmanager
async def loopback_upstream(handle: Handle) -> AsyncIterator[str]:
    """`handle` answering each connection on 127.0.0.1 (the peer leaving ends it quietly, the
    writer closed after); the base URL (`/v1`). At the end every handler still running is
    cancelled: a trickling answer must not hold the test."""
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
