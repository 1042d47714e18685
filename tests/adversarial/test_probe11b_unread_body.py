"""Outside probe: a request answered before its body ended (an unknown path's 404, a declared
body over the limit's 413, any answer that reads no body) left the rest of the body unbounded.
uvicorn parses and drops it, and each byte that comes cancels the keep-alive timer; the read
timeout covered only a body the app was reading. A client declaring a 1 TB body and sending a
byte a second held its connection for ever (still open 12 s past a 3 s timeout). Now the rest
of the body gets `server.client_read_timeout_s` from the answer, then the connection closes;
a rest that does arrive in time leaves the connection to be reused."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Sidecar, open_sidecar

TIMEOUT_S = 1.0
DRIP_FOR_S = 30.0  # far past the timeout and its slack: the loop's bound, not an expectation


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def quick_reads(doc: dict[str, Any]) -> None:
        doc["server"]["client_read_timeout_s"] = TIMEOUT_S

    yield from open_sidecar(tmp_path_factory.mktemp("unread-body"), sim_url, quick_reads)


def drip_until_closed(sidecar: Sidecar, head: bytes) -> tuple[bytes, bool]:
    """Send `head`, then a body byte every 0.2 s: (what came back, whether the sidecar closed
    the connection before DRIP_FOR_S)."""
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=5) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        got = b""
        deadline = time.monotonic() + DRIP_FOR_S
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"a")
                piece = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset or broken pipe: closed
                return got, True
            if not piece:
                return got, True
            got += piece
        return got, False


@pytest.mark.parametrize(
    "head",
    [
        b"POST /no/such/path HTTP/1.1\r\nhost: localhost\r\ncontent-length: 1000000000000\r\n\r\n",
        b"POST /no/such/path HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n"
        b"1000000000\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
        b"content-type: application/json\r\n"
        b"content-length: 1000000000000\r\n\r\n",  # 413 on the declared length
    ],
    ids=["404, content-length", "404, chunked", "413"],
)
def test_the_rest_of_an_unread_body_gets_the_read_timeout(sidecar: Sidecar, head: bytes) -> None:
    got, closed = drip_until_closed(sidecar, head)
    assert got.startswith((b"HTTP/1.1 404", b"HTTP/1.1 413")), got[:100]
    assert closed, f"the connection was still open after {DRIP_FOR_S} s of a trickled body"


def test_a_rest_that_arrives_in_time_leaves_the_connection_reusable(sidecar: Sidecar) -> None:
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(
            b"POST /no/such/path HTTP/1.1\r\nhost: localhost\r\ncontent-length: 10\r\n\r\n"
        )
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 404"), first[:100]
        sock.sendall(
            b"0123456789GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
        )
        got = b""
        while piece := sock.recv(65536):
            got += piece
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
