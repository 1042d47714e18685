"""A large whole answer is held once while read (upstream/gathered.py): read_at_most's peak of
traced memory stays near the body's size, where joining a list of pieces held it twice (six
62 MB answers at once took ~1.7x their bytes: bench/results/mem26.md). A small body is joined
as before, one piece returned as it came."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import tracemalloc

import httpx
import pytest

from arbiter.upstream.gathered import SPILL_BYTES, Gathered
from arbiter.upstream.http import read_at_most
from arbiter.upstream.transport import H1Transport

SIZE = 24 * 1024 * 1024


def test_small_bodies_joined_as_before() -> None:
    one = b"x" * 5000
    g = Gathered()
    g.add(one)
    assert g.value() is one  # the hot path's single piece: no copy
    g = Gathered()
    pieces = [bytes([65 + i % 26]) * (300_000 + i) for i in range(8)]  # crosses SPILL_BYTES
    for p in pieces:
        g.add(p)
    assert g.size == sum(map(len, pieces)) > SPILL_BYTES
    assert g.value() == b"".join(pieces)
    empty = Gathered()
    assert empty.value() == b""


def _serve_once(answer: bytes) -> tuple[socket.socket, threading.Thread]:
    """A raw-socket upstream on 127.0.0.1 answering one request with `answer` (built before
    tracing starts; sendall allocates nothing per byte)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize("coding", ["identity", "gzip"])
def test_large_body_held_once_while_read(coding: str) -> None:
    body = b'{"data": "' + b"0123456789abcdef" * (SIZE // 16) + b'"}'
    sent = gzip.compress(body, 1) if coding == "gzip" else body
    extra = b"content-encoding: gzip\r\n" if coding == "gzip" else b""
    answer = b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n" % (extra, len(sent)) + sent
    listener, thread = _serve_once(answer)
    port = listener.getsockname()[1]

    async def go() -> tuple[bytes | None, int]:
        transport = H1Transport()
        url = httpx.URL(f"http://127.0.0.1:{port}/x")
        try:
            resp = await transport.send_bytes(url, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n", {})
            tracemalloc.start()
            try:
                got = await read_at_most(resp, 2 * SIZE)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            await resp.aclose()
            return got, peak
        finally:
            await transport.aclose()

    try:
        got, peak = asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        thread.join(10)
        listener.close()
    assert got == body
    # held once (plus a few pieces in flight); a join of the pieces peaks at twice the body
    assert peak < 1.25 * len(body), (peak, len(body))
