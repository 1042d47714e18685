"""Noticed, not done (eleventh session): a request the protocol refuses (400 unparseable, 431,
408) pipelined behind others was answered at once, ahead of the answers to the requests before
it: a pipelining client pairs answers with requests by order (RFC 9112 9.3.2), so it read the
400 as the answer to its first request. Now the refusal waits for the answers ahead of it, then
the connection closes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from arbiter.client_timeout import MAX_HEADER_FIELDS
from arbiter.offline.demo import sim_config
from tests import raw_http
from tests.conftest import Sidecar, open_sidecar, start_sim

HEALTH = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
ASK = orjson.dumps(
    {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 20}
)
CHAT = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json"
    b"\r\ncontent-length: %d\r\n\r\n" % len(ASK)
) + ASK
MALFORMED = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent length: 5\r\n\r\n"
TOO_MANY = (
    b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    + b"".join(b"x-f%d: v\r\n" % n for n in range(2 * MAX_HEADER_FIELDS))
    + b"\r\n"
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, object]) -> None:
        server = doc.setdefault("server", {})
        assert isinstance(server, dict)
        server["client_read_timeout_s"] = 1.0

    yield from open_sidecar(tmp_path_factory.mktemp("refusal-order"), sim_url, edit)


def statuses(got: bytes) -> list[bytes]:
    """The status codes of the answers in `got`, in the order they came."""
    return [part[:3] for part in got.split(b"HTTP/1.1 ")[1:]]


@pytest.mark.parametrize(
    ("refused", "status"), [(MALFORMED, b"400"), (TOO_MANY, b"431")], ids=["400", "431"]
)
def test_a_refusal_comes_after_the_answers_to_the_requests_ahead(
    sidecar: Sidecar, refused: bytes, status: bytes
) -> None:
    # (before: only the refusal came, first, and the close lost the answers ahead of it)
    got = raw_http.exchange(sidecar.port, CHAT + HEALTH + HEALTH + refused + HEALTH)
    assert statuses(got) == [b"200", b"200", b"200", status]
    first = got.split(b"HTTP/1.1 ")[1].partition(b"\r\n\r\n")[2]
    assert b"chat.completion" in first  # the chat's answer came first, whole


@pytest.fixture(scope="module")
def slow_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """A sidecar whose upstream takes seconds to answer (the demo sim, 400x slower), with a
    1 s head timeout: a head stalled behind a request times out before that answer."""
    tmp = tmp_path_factory.mktemp("refusal-order-slow")
    cfg = tmp / "sim.toml"
    cfg.write_text(sim_config().replace("latency_scale = 0.02", "latency_scale = 8.0"))
    proc, root = start_sim(cfg)

    def edit(doc: dict[str, object]) -> None:
        server = doc.setdefault("server", {})
        assert isinstance(server, dict)
        server["client_read_timeout_s"] = 1.0

    try:
        yield from open_sidecar(tmp, f"{root}/v1", edit)
    finally:
        proc.stop()


def test_a_head_timeout_behind_a_slow_answer_comes_after_it(slow_sidecar: Sidecar) -> None:
    # (before: the 408 came at 1 s, alone, and the close cut the answer ahead)
    with socket.create_connection(("127.0.0.1", slow_sidecar.port), timeout=30) as sock:
        sock.sendall(CHAT + b"GET /healthz HTTP/1.1\r\nhost: 127")  # and stall
        got = raw_http.read_all(sock)
    answered = statuses(got)
    assert len(answered) == 2 and answered[1] == b"408", got[:300]
    assert answered[0] != b"408"


def test_a_refusal_alone_is_answered_at_once(sidecar: Sidecar) -> None:
    assert statuses(raw_http.exchange(sidecar.port, MALFORMED)) == [b"400"]
