"""Outside probe: the number of header fields had no limit but the head's 1 MiB. Each field is
a Python callback in uvicorn and a list entry every header lookup scans: 250,000 fields of
`a:` (1 MB) held the event loop for 100 ms on an unknown path and 240 ms on a chat request
(10 ms with ten fields), for every such request. Now past MAX_HEADER_FIELDS (500; SDKs send
about 15) the answer is 431 in OpenAI's shape and the connection closes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from arbiter.client_timeout import MAX_HEADER_FIELDS
from tests.conftest import Sidecar, open_sidecar


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("header-count"), sim_url)


def exchange(sidecar: Sidecar, fields: int) -> bytes:
    head = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n"
    extra = b"".join(b"x-f%d: v\r\n" % n for n in range(fields - 2))
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(head + extra + b"\r\n")
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except ConnectionResetError:
            pass  # what came before it is the answer
        return got


def test_more_header_fields_than_the_limit_is_431(sidecar: Sidecar) -> None:
    got = exchange(sidecar, 4 * MAX_HEADER_FIELDS)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), got[:200]
    assert b"connection: close" in head.lower()
    error = orjson.loads(body)["error"]
    assert error["code"] == "request_header_fields_too_large"
    assert str(MAX_HEADER_FIELDS) in error["message"]


def test_as_many_header_fields_as_the_limit_are_served(sidecar: Sidecar) -> None:
    got = exchange(sidecar, MAX_HEADER_FIELDS)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
