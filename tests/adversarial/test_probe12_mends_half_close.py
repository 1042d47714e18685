"""Noticed, not done (eleventh session): a client that sends its request and then shuts down
its write side (`printf 'POST ...' | nc -N`) got no answer: uvicorn read the EOF as a
disconnect and the request was cancelled. HTTP/1.1 allows the half-close; a request received
whole before it is now answered (after an interim 100 Continue: half_close.py), and the
connection then closes. A request cut short by the EOF is still not answered."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from tests import raw_http
from tests.conftest import Sidecar, open_sidecar

ASK = orjson.dumps(
    {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 20}
)
HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"
    b"\r\ncontent-length: %d\r\n\r\n" % len(ASK)
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("half-close"), sim_url)


def half_closed(sidecar: Sidecar, sent: bytes) -> bytes:
    """Send `sent`, shut down the write side (as `nc -N` does), read until the sidecar closes."""
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=15) as sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        return raw_http.read_all(sock)


def test_a_request_sent_whole_before_a_half_close_is_answered(sidecar: Sidecar) -> None:
    got = half_closed(sidecar, HEAD + ASK)
    interim, _, rest = got.partition(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue", got[:200]
    head, _, body = rest.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), rest[:200]
    assert orjson.loads(body)["object"] == "chat.completion"


def test_pipelined_requests_before_a_half_close_are_all_answered(sidecar: Sidecar) -> None:
    health = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    got = half_closed(sidecar, HEAD + ASK + health + health)
    finals = [p[:3] for p in got.split(b"HTTP/1.1 ")[1:] if not p.startswith(b"100")]
    assert finals == [b"200", b"200", b"200"], got[:300]


def test_a_request_cut_mid_body_by_the_half_close_is_not_answered(sidecar: Sidecar) -> None:
    assert half_closed(sidecar, HEAD + ASK[:10]) == b""


def test_a_refusal_behind_a_request_still_follows_its_answer_after_a_half_close(
    sidecar: Sidecar,
) -> None:
    malformed = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent length: 5\r\n\r\n"
    got = half_closed(sidecar, HEAD + ASK + malformed)
    finals = [p[:3] for p in got.split(b"HTTP/1.1 ")[1:] if not p.startswith(b"100")]
    assert finals == [b"200", b"400"], got[:300]
