"""Noticed, not done (eleventh session): the answers the connection's protocol writes itself
(431 for a head too large or with too many fields, 400 for one httptools cannot parse, 408
for a head too slow) carried none of the headers every other error has: no `x-should-retry`
(so the official SDKs fell back on their status rules: they retry a 408 and nothing told them
a 431 is final), no request id for the SDK error's `request_id`, no nosniff; and under
/v1/messages their body was OpenAI's shape, which the anthropic SDK cannot read. Now they
carry all of these, in the caller's surface shape (protocol_answers.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from arbiter.client_timeout import MAX_HEADER_FIELDS
from tests import raw_http
from tests.conftest import Sidecar, open_sidecar


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    def edit(doc: dict[str, object]) -> None:
        server = doc.setdefault("server", {})
        assert isinstance(server, dict)
        server["client_read_timeout_s"] = 1.0

    yield from open_sidecar(tmp_path_factory.mktemp("refusal-headers"), sim_url, edit)


def fields(head: bytes) -> dict[bytes, bytes]:
    lines = head.split(b"\r\n")[1:]
    return {n.strip().lower(): v.strip() for n, _, v in (line.partition(b":") for line in lines)}


def too_many_fields(path: bytes, request_id: bytes | None = None) -> bytes:
    head = b"POST " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n"
    if request_id is not None:
        head += b"x-request-id: " + request_id + b"\r\n"
    return head + b"".join(b"x-f%d: v\r\n" % n for n in range(2 * MAX_HEADER_FIELDS)) + b"\r\n"


def answer(sidecar: Sidecar, sent: bytes) -> tuple[bytes, dict[bytes, bytes], dict[str, object]]:
    got = raw_http.exchange(sidecar.port, sent)
    head, _, body = got.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], fields(head), orjson.loads(body)


def test_a_431_says_do_not_retry_and_carries_the_request_id(sidecar: Sidecar) -> None:
    status, headers, body = answer(
        sidecar, too_many_fields(b"/v1/chat/completions", b"client-id-431")
    )
    assert status.startswith(b"HTTP/1.1 431")
    assert headers[b"x-should-retry"] == b"false"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"x-request-id"] == headers[b"request-id"] == b"client-id-431"
    assert headers[b"connection"] == b"close"
    assert body["error"]["code"] == "request_header_fields_too_large"  # type: ignore[index]


def test_a_431_under_messages_is_in_anthropics_shape(sidecar: Sidecar) -> None:
    status, headers, body = answer(sidecar, too_many_fields(b"/v1/messages"))
    assert status.startswith(b"HTTP/1.1 431")
    assert headers[b"x-should-retry"] == b"false"
    assert headers[b"request-id"].startswith(b"req_")
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert str(MAX_HEADER_FIELDS) in body["error"]["message"]  # type: ignore[index]


def test_a_malformed_request_is_a_400_that_says_do_not_retry(sidecar: Sidecar) -> None:
    sent = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent length: 5\r\n\r\n"
    status, headers, body = answer(sidecar, sent)
    assert status.startswith(b"HTTP/1.1 400")
    assert headers[b"x-should-retry"] == b"false"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"request-id"].startswith(b"req_")
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_a_head_too_slow_is_a_408_that_may_be_retried(sidecar: Sidecar) -> None:
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # and stall
        got = raw_http.read_all(sock)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), got[:200]
    assert fields(head)[b"x-should-retry"] == b"true"
    assert orjson.loads(body)["type"] == "error"  # the anthropic SDK's shape
