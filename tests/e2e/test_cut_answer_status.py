"""An upstream's 200 whose body ends before its Content-Length was answered 503 "connection
failed" (an httpx protocol error while reading the body, taken for an unreachable upstream),
while a body complete by its length whose JSON is cut was 502 "malformed": the same broken
answer, two statuses and two stories for a client and its retry logic. The upstream answered
in both: both are now 502 (an upstream's broken answer), failed over to the next candidate as
before. A real sidecar process in front of a raw-socket upstream on 127.0.0.1 that counts its
calls; the official openai SDK as client."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import ClassVar

import openai
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar

WHOLE = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",'
    b'"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant",'
    b'"content":"ok"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}'
)


class _Upstream(socketserver.BaseRequestHandler):
    """Reads one request; answers 200 with a body cut as its prompt's first word says."""

    calls: ClassVar[list[str]] = []

    def handle(self) -> None:
        conn: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += conn.recv(65536)
        word = "short" if b'"content":"short' in body else "cutjson"
        self.calls.append(word)
        if word == "short":  # the whole body declared, half of it sent, then the close
            declared, sent = len(WHOLE), WHOLE[: len(WHOLE) // 2]
        else:  # a body complete by its length, its JSON cut
            declared, sent = len(WHOLE) // 2, WHOLE[: len(WHOLE) // 2]
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(declared).encode() + b"\r\nconnection: close\r\n\r\n" + sent
        )
        conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    tmp = tmp_path_factory.mktemp("cut")
    doc = demo_settings(f"http://127.0.0.1:{server.server_address[1]}/v1", tmp / "a.db")
    doc["routing"]["judge_sample_rate"] = 0.0
    (tmp / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp / "a.toml").start()
    yield s
    s.stop()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("word", ["short", "cutjson"])
def test_a_cut_answer_is_a_502_and_fails_over(sidecar: Sidecar, word: str) -> None:
    key = str(sidecar.create_key(f"t-cut-{word}")["key"])
    before = len(_Upstream.calls)
    with (
        openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as gpt,
        pytest.raises(openai.APIStatusError) as failed,
    ):
        gpt.chat.completions.create(
            model="sim-premium",
            max_tokens=50,
            messages=[{"role": "user", "content": f"{word} please"}],
        )
    err = failed.value
    assert err.status_code == 502, (err.status_code, err.body)
    assert isinstance(err.body, dict) and "malformed" in str(err.body.get("message")), err.body
    assert len(_Upstream.calls[before:]) >= 2, _Upstream.calls[before:]  # failed over
    assert set(_Upstream.calls[before:]) == {word}
