"""Noticed, not done (eleventh session): an HTTP/1.0 request for a stream was answered with
`Transfer-Encoding: chunked`, which RFC 9112 (6.1) forbids for an HTTP/1.0 client: it reads
the chunk sizes as part of the events. Now the stream goes unchunked, with `Connection:
close`, and the close ends it (close_delimited.py); an answer of known length is as before."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests import raw_http
from tests.conftest import Sidecar, open_sidecar


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, sim_url: str) -> Iterator[Sidecar]:
    yield from open_sidecar(tmp_path_factory.mktemp("http10"), sim_url)


def post(version: bytes, body: dict[str, object]) -> bytes:
    raw = orjson.dumps(body)
    return (
        b"POST /v1/chat/completions HTTP/" + version + b"\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(raw)
    ) + raw


ASK = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 20}


def test_an_http10_stream_is_delimited_by_the_close_not_chunked(sidecar: Sidecar) -> None:
    got = raw_http.exchange(sidecar.port, post(b"1.0", {**ASK, "stream": True}))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), got[:300]
    lowered = head.lower()
    assert b"transfer-encoding" not in lowered
    assert b"content-length" not in lowered
    assert b"connection: close" in lowered
    assert body.startswith(b"data: {"), body[:80]  # no chunk size before the first event
    assert body.rstrip().endswith(b"data: [DONE]")
    events = [orjson.loads(line[6:]) for line in body.split(b"\n\n") if line.startswith(b"data: {")]
    assert events and all(e["object"] == "chat.completion.chunk" for e in events)


def test_an_http10_answer_of_known_length_keeps_its_length(sidecar: Sidecar) -> None:
    got = raw_http.exchange(sidecar.port, post(b"1.0", ASK))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), got[:300]
    assert b"transfer-encoding" not in head.lower()
    assert orjson.loads(body)["object"] == "chat.completion"


def test_an_http11_stream_is_still_chunked(sidecar: Sidecar) -> None:
    sent = post(b"1.1", {**ASK, "stream": True}).replace(
        b"host: 127.0.0.1\r\n", b"host: 127.0.0.1\r\nconnection: close\r\n"
    )
    head = raw_http.exchange(sidecar.port, sent).partition(b"\r\n\r\n")[0]
    assert b"transfer-encoding: chunked" in head.lower()
