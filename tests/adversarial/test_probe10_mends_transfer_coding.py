"""Outside probe (tenth session, mended): a request sent with `Transfer-Encoding: gzip, chunked`.
uvicorn's parser (httptools) undoes only the chunked framing and ignores the gzip coding, so
the app got the compressed bytes and answered "We could not parse the JSON body", which sends
the caller hunting for a JSON bug. Any transfer coding but chunked is now a 400 naming it, in
the surface's error shape; a plain chunked body is still served."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import Sidecar, open_sidecar

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]}
MESSAGES = {**CHAT, "max_tokens": 16}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("transfer-coding"), sim_url)


def _post_chunked(port: int, path: str, body: bytes, coding: str) -> tuple[bytes, bytes]:
    """(status line, body) of one POST whose body is sent in one chunk under `coding`."""
    version = "anthropic-version: 2023-06-01\r\n" if path.startswith("/v1/messages") else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"{version}transfer-encoding: {coding}\r\nconnection: close\r\n\r\n"
    ).encode()
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head + framed)
        got = b""
        while piece := sock.recv(65536):
            got += piece
    status, _, rest = got.partition(b"\r\n")
    return status, rest.partition(b"\r\n\r\n")[2]


def test_a_gzip_transfer_coding_is_a_400_naming_it(sidecar: Sidecar) -> None:
    for path, request in (("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)):
        body = gzip.compress(orjson.dumps(request))
        status, answer = _post_chunked(sidecar.port, path, body, "gzip, chunked")
        assert status.startswith(b"HTTP/1.1 400"), (path, status, answer[:300])
        error = orjson.loads(answer)["error"]
        assert error["type"] == "invalid_request_error"
        assert "Transfer-Encoding 'gzip, chunked'" in error["message"], error


def test_a_chunked_body_is_still_served(sidecar: Sidecar) -> None:
    status, answer = _post_chunked(
        sidecar.port, "/v1/chat/completions", orjson.dumps(CHAT), "chunked"
    )
    assert status.startswith(b"HTTP/1.1 200"), answer[:300]
