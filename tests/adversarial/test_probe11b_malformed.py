"""Outside probe: a request the HTTP parser refuses (a header name with a space, a NUL or a
lone CR in a value, an obs-fold continuation line, Content-Length with Transfer-Encoding, a
chunk size that overflows) got uvicorn's plain-text "Invalid HTTP request received.", not the
error shape every other refusal has, and no reason. Now it is a 400 in OpenAI's error shape
naming the parser's reason, and the connection lingers as a 431's does instead of closing at
once (the last test, a client still sending its body, passed before as well on this host: it
guards the answer against a reset)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from tests import raw_http
from tests.conftest import Sidecar, open_sidecar

BODY = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}'
POST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("malformed"), sim_url)


def exchange(sidecar: Sidecar, sent: bytes) -> bytes:
    return raw_http.exchange(sidecar.port, sent)


@pytest.mark.parametrize(
    "sent",
    [
        POST + b"content length: 5\r\n\r\n",
        POST + b"x-note: a\x00b\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY,
        POST + b"x-note: a\rb\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY,
        POST + b"x-note: a\r\n folded\r\ncontent-length: %d\r\n\r\n" % len(BODY) + BODY,
        POST + b"content-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        POST + b"transfer-encoding: chunked\r\n\r\n1" + b"0" * 17 + b"\r\n" + BODY,
        b"GET /healthz?" + b"a" * 70_000 + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    ],
    ids=[
        "space in a name",
        "NUL",
        "lone CR",
        "obs-fold",
        "CL and TE",
        "chunk size overflow",
        "a URL over 64 KiB",
    ],
)
def test_a_malformed_request_is_a_400_in_the_api_shape_naming_why(
    sidecar: Sidecar, sent: bytes
) -> None:
    got = exchange(sidecar, sent)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), got[:300]
    assert b"connection: close" in head.lower()
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("The request is not valid HTTP/1.1: ")
    assert len(error["message"]) > len("The request is not valid HTTP/1.1: .")
    assert "User callback error" not in error["message"]  # httptools' wrapper: the cause is named


def test_a_client_still_sending_its_body_reads_the_400(sidecar: Sidecar) -> None:
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(POST + b"bad header: 1\r\ncontent-length: 5000000\r\n\r\n")
        try:
            for _ in range(50):  # 5 MB more, as a client uploading its body would
                sock.sendall(b"a" * 100_000)
        except OSError:
            pass  # closed under us: what it answered is still readable
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except ConnectionResetError:
            pass
    assert got.startswith(b"HTTP/1.1 400"), got[:200]
