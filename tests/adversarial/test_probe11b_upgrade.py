"""Outside probe: `curl --http2 http://...` sends `Upgrade: h2c` (with `Connection: Upgrade,
HTTP2-Settings`) on a POST. The HTTP parser (httptools) takes any upgrade request as ending
at its head and passes the body on as the new protocol's bytes; uvicorn, not upgrading, ran
the request with an empty body: a 400 "zero-length, empty document" for a request whose body
was fine. The sidecar speaks HTTP/1.1 only; a request that asks to upgrade and carries a body
is now a clear 400 naming the header (and the connection closes); one without a body is served
as before, the header ignored."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import Sidecar, open_sidecar

BODY = b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}'
H2C = (  # what curl --http2 sends
    b"connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\n"
    b"http2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("upgrade"), sim_url)


def exchange(sidecar: Sidecar, sent: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", sidecar.port), timeout=10) as sock:
        sock.sendall(sent)
        got = b""
        try:
            while piece := sock.recv(65536):
                got += piece
        except TimeoutError:
            pass  # a kept-alive connection: what came is the answer
        return got


@pytest.mark.parametrize(
    "framing",
    [b"content-length: %d\r\n\r\n" % len(BODY) + BODY,
     b"transfer-encoding: chunked\r\n\r\n%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n"],
    ids=["content-length", "chunked"],
)  # fmt: skip
def test_an_upgrade_with_a_body_is_a_400_naming_it(sidecar: Sidecar, framing: bytes) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
        b"content-type: application/json\r\n"
    )
    got = exchange(sidecar, head + H2C + framing)
    head_, _, body = got.partition(b"\r\n\r\n")
    assert head_.startswith(b"HTTP/1.1 400"), got[:300]
    assert b"connection: close" in head_.lower()
    error = orjson.loads(body)["error"]
    assert error["code"] == "unsupported_upgrade"
    assert "h2c" in error["message"]


def test_an_upgrade_without_a_body_is_served_as_http_1_1(sidecar: Sidecar) -> None:
    got = exchange(
        sidecar,
        b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n" + H2C + b"connection: close\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 200"), got[:300]
