"""Outside probe: a client that stops reading a stream but keeps its connection open. Memory
stays bounded (uvicorn's flow control stops the relay, and the relay stops reading upstream),
but nothing ever ends it: the request, its upstream connection and its upstream generation
were held as long as the client stayed (an endless upstream was still blocked mid-send after
the client had read nothing for minutes). Now a client that takes no byte for
`server.client_write_timeout_s` while the send buffers are full is disconnected, and the
upstream call is cancelled: the upstream sees its peer go."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Sidecar, open_sidecar

WRITE_TIMEOUT_S = 1.0
WAIT_S = 60.0  # how long the upstream waits for its peer to go: the test's bound


class EndlessUpstream:
    """An OpenAI-style upstream on loopback whose every stream never ends; `peer_gone` is set
    when the sidecar stops taking its bytes for good (the connection closed under a send)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.peer_gone = threading.Event()
        self.streaming = threading.Event()
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._serve, daemon=True)
        self._acceptor.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(WAIT_S)
            got = b""
            while b"\r\n\r\n" not in got:
                got += conn.recv(65536)
            head, _, body = got.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": "word " * 200},
                                  "finish_reason": None}]}  # fmt: skip
            data = b"data: " + json.dumps(event).encode() + b"\n\n"
            chunk = b"%x\r\n" % len(data) + data + b"\r\n"
            try:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                self.streaming.set()
                while not self._stop.is_set():
                    conn.sendall(chunk)
            except TimeoutError:
                return  # blocked for WAIT_S: the peer never went
            except OSError:
                self.peer_gone.set()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join()  # its accept times out each 0.5 s: closed under it, it would raise
        self.listener.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[EndlessUpstream]:
    up = EndlessUpstream()
    yield up
    up.close()


@pytest.fixture(scope="module")
def sidecar(
    tmp_path_factory: pytest.TempPathFactory, upstream: EndlessUpstream
) -> Iterator[Sidecar]:
    def quick_writes(doc: dict[str, Any]) -> None:
        doc["server"]["client_write_timeout_s"] = WRITE_TIMEOUT_S

    yield from open_sidecar(tmp_path_factory.mktemp("stalled-reader"), upstream.url, quick_writes)


def test_a_client_that_stops_reading_a_stream_is_cut_off_and_the_upstream_call_ends(
    sidecar: Sidecar, upstream: EndlessUpstream
) -> None:
    body = json.dumps({"model": "sim-tiny", "stream": True, "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()  # fmt: skip
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", sidecar.port))
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body
        )
        assert upstream.streaming.wait(WAIT_S), "the upstream was never called"
        # and the client reads nothing more, its connection open
        assert upstream.peer_gone.wait(WAIT_S), "the upstream call was still held"
