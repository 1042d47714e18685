"""Outside probe: a request head (line and headers) with no size limit. uvicorn's httptools
protocol buffers a header until it ends, so one connection could stream headers for the whole
`client_read_timeout_s` (57 MiB in 0.9 s on loopback: the sidecar's RSS grew by as much, and the
request was then served). Now a head past 1 MiB (room for `x-arbiter-tests`' 256 KiB of test
source in base64) is answered 431 in OpenAI's shape and the connection closed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from arbiter.client_timeout import MAX_HEAD_BYTES
from tests.conftest import Sidecar, open_sidecar
from tests.raw_http import read_all, send_past


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("http-head"), sim_url)


def test_a_head_past_the_limit_is_431_and_closed(sidecar: Sidecar) -> None:
    line = b"x-junk: " + b"a" * (64 * 1024) + b"\r\n"
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        send_past(sock, line, MAX_HEAD_BYTES)  # the head never ends: only the limit stops it
        got = read_all(sock)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), got[:200]
    assert b"connection: close" in head.lower()
    assert orjson.loads(body)["error"]["code"] == "request_header_fields_too_large"


def test_a_big_head_within_the_limit_is_served(sidecar: Sidecar) -> None:
    tests = b"base64:" + b"QUFB" * (300 * 1024 // 4)  # what a 225 KiB x-arbiter-tests sends
    request = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-junk: " + tests + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        for _ in range(2):  # and the connection lives on
            sock.sendall(request)
            got = b""
            while not got.endswith(b"}"):
                got += sock.recv(65536)
            assert got.startswith(b"HTTP/1.1 200"), got[:200]
