"""Outside probe: pipelined requests without limit. uvicorn queues each request pipelined
behind the one being answered (a cycle, its scope and an event: about 1 KiB each) and parses
a whole read before it stops: 20 connections each writing 256 KiB of tiny pipelined requests
(and reading nothing) grew the sidecar's RSS by 330 MB. Now past MAX_PIPELINED queued requests
the last one queued is answered with `Connection: close` and the rest are dropped unanswered
(RFC 9112 9.3.2: a pipelining client retries those); pipelining within the limit is served in
order, as before."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from arbiter.client_timeout import MAX_PIPELINED
from tests.conftest import Sidecar, open_sidecar

REQUEST = b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("pipelining"), sim_url)


def answers_to(sidecar: Sidecar, sent: bytes) -> list[bytes]:
    """The heads of the responses to `sent`, until the sidecar closes (or 30 s of quiet)."""
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=30) as sock:
        sock.sendall(sent)
        got = b""
        try:
            while piece := sock.recv(1 << 20):
                got += piece
        except TimeoutError:
            pass
    heads = []
    for part in got.split(b"HTTP/1.1 ")[1:]:
        heads.append(b"HTTP/1.1 " + part.partition(b"\r\n\r\n")[0])
    return heads


def test_too_many_pipelined_requests_end_in_a_close(sidecar: Sidecar) -> None:
    sent = 20 * MAX_PIPELINED
    heads = answers_to(sidecar, REQUEST * sent)
    assert MAX_PIPELINED < len(heads) < sent
    assert all(h.startswith(b"HTTP/1.1 200") for h in heads)
    assert b"connection: close" in heads[-1].lower()


def test_pipelining_within_the_limit_is_served_in_order(sidecar: Sidecar) -> None:
    requests = [b"GET /healthz?n=%d HTTP/1.1\r\nhost: localhost\r\n\r\n" % n for n in range(20)]
    closing = b"GET /v1/models HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    heads = answers_to(sidecar, b"".join(requests) + closing)
    assert len(heads) == 21 and all(h.startswith(b"HTTP/1.1 200") for h in heads)
    assert b"connection: close" in heads[-1].lower()
