"""dos25: client-side resource holds probed against a real `arbiter serve` that held (kept as a
regression check): hundreds of connections at once that send half a head, or a head whose
declared body never comes, each get their 408 at `server.client_read_timeout_s` and their
descriptor back, while a well-behaved client is served meanwhile. (Measured at 1,500 of each
beside 1,500 idle keep-alive connections: every one a 408, the others served in 0.2-1.2 s,
bench/results/dos25.md.)"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import orjson

from tests.probe23a_rig import ANSWER, rig, whole

CONNECTIONS = 150  # of each kind


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _held(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head)
    return sock


def test_stalled_heads_and_bodies_are_timed_out_while_others_are_served(tmp_path: Path) -> None:
    short = lambda text: text.replace("[server]\n", "[server]\nclient_read_timeout_s = 1.5\n")  # noqa: E731
    with rig(tmp_path, short) as r:
        pid = r.sidecar.proc.proc.pid
        ask = r.script("ok", lambda sock, path, body: whole(sock, ANSWER))
        chat = {"model": "oa-1", "messages": [{"role": "user", "content": ask}]}
        r.oa.chat.completions.create(**chat)  # type: ignore[call-overload]
        before = _descriptors(pid)
        body = orjson.dumps(chat)
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"authorization: Bearer {r.key}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        half = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthoriz"
        started = time.monotonic()
        held = [_held(r.sidecar.port, half) for _ in range(CONNECTIONS)]
        held += [_held(r.sidecar.port, head) for _ in range(CONNECTIONS)]
        try:
            answer = r.oa.chat.completions.create(**chat)  # type: ignore[call-overload]
            assert answer.choices[0].message.content == "hi"  # served among them
            assert time.monotonic() - started < 1.5  # before any of theirs timed out
            statuses = []
            for sock in held:
                sock.settimeout(10)
                statuses.append(sock.recv(64).split(b" ")[1])
            assert statuses == [b"408"] * len(held)
            waited = time.monotonic() - started
            assert 1.4 < waited < 10  # at the read timeout, not before, not much after
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + 5
        while _descriptors(pid) > before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _descriptors(pid) <= before + 5  # every held connection's descriptor back
