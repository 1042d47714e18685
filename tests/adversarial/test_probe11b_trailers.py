"""Outside probe: a chunked body's trailer fields had no size limit. uvicorn appends each to
the request's header list (the scope's, after the app has read its headers), and the head's
1 MiB cap did not count them: one connection sent 573 MB of trailers in 8 s to an unknown path
and the sidecar's RSS grew by 3.2 GB. Now trailers are dropped (no route reads them; they are
not the request's headers), and past MAX_HEAD_BYTES the answer is 431 and the connection
closes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from arbiter.client_timeout import MAX_HEAD_BYTES
from tests.conftest import Sidecar, open_sidecar

BODY = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}'
HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
    b"content-type: application/json\r\n"
    b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("trailers"), sim_url)


def read_all(sock: socket.socket) -> bytes:
    got = b""
    try:
        while piece := sock.recv(65536):
            got += piece
    except ConnectionResetError:
        pass  # what came before the reset is what it answered
    return got


def test_trailers_past_the_limit_are_431_and_closed(sidecar: Sidecar) -> None:
    line = b"x-trailer: " + b"a" * (64 * 1024) + b"\r\n"
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(HEAD + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n")
        sent = 0
        try:  # the trailers never end: only the limit stops them
            while sent < MAX_HEAD_BYTES + 4 * len(line):
                sock.sendall(line)
                sent += len(line)
        except OSError:
            pass  # closed under us: what it answered is still readable
        got = read_all(sock)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), got[:200]
    assert b"connection: close" in head.lower()
    assert orjson.loads(body)["error"]["code"] == "request_header_fields_too_large"


def test_a_body_with_small_trailers_is_served(sidecar: Sidecar) -> None:
    chunked = b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=30) as sock:
        sock.sendall(HEAD + chunked)
        got = read_all(sock)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert orjson.loads(got.partition(b"\r\n\r\n")[2])["object"] == "chat.completion"
