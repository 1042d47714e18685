"""A client that sends half a request and stalls: a live sidecar answers 408 and closes the
connection within `server.client_read_timeout_s` (raw sockets: no HTTP client sends half)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import Sidecar, open_sidecar

TIMEOUT_S = 1.0
# how late the close may come: room for a loaded machine, far below the keep-alive's 75 s
SLACK_S = 10.0


@pytest.fixture(scope="module")
def slow_sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def slow_reads(doc: dict[str, Any]) -> None:
        doc["server"]["client_read_timeout_s"] = TIMEOUT_S

    yield from open_sidecar(tmp_path_factory.mktemp("client-timeouts"), sim_url, slow_reads)


def stall_after(sidecar: Sidecar, sent: bytes, wait_s: float = 30.0) -> tuple[bytes, float]:
    """Send `sent`, then nothing: what came back until the sidecar closed, and when it closed
    (seconds after the send; the socket gives up after `wait_s`)."""
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=wait_s) as sock:
        sock.sendall(sent)
        t0 = time.monotonic()
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except TimeoutError:
            pytest.fail(f"the connection was still open {wait_s} s after a stalled request")
        return got, time.monotonic() - t0


def body_of(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"connection: close" in head.lower()
    parsed: dict[str, object] = orjson.loads(body)
    return parsed


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /v1/chat/comp",  # half a request line
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-ty",  # half the headers
        b"",  # a connection that never sends anything
    ],
)
def test_a_stalled_request_head_is_closed_within_the_timeout(
    slow_sidecar: Sidecar, sent: bytes
) -> None:
    got, closed_after = stall_after(slow_sidecar, sent)
    assert closed_after < TIMEOUT_S + SLACK_S  # not the keep-alive's 75 s
    error = body_of(got)["error"]
    assert isinstance(error, dict) and error["code"] == "request_timeout"


def test_a_stalled_request_body_gets_408_and_the_connection_closes(slow_sidecar: Sidecar) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    )
    got, closed_after = stall_after(slow_sidecar, head + b'{"model": "auto", "mess')
    assert closed_after < TIMEOUT_S + SLACK_S
    error = body_of(got)["error"]
    assert isinstance(error, dict) and error["code"] == "request_timeout"
    assert set(error) == {"message", "type", "param", "code"}


def test_a_whole_request_on_a_slow_line_is_served(slow_sidecar: Sidecar) -> None:
    """The timeout is per request head: a keep-alive connection serves request after request."""
    request = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", slow_sidecar.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(request)
            got = b""
            while not got.endswith(b"}"):  # the whole JSON answer
                got += sock.recv(65536)
            assert got.startswith(b"HTTP/1.1 200"), got
            time.sleep(TIMEOUT_S * 0.7)  # idle between requests: the keep-alive governs that
