"""`server.max_connections` (connection_cap.py) through a real `arbiter serve`: past the bound,
the keep-alive connections that went idle first are closed to make room and the newcomer is
served; with every connection busy (heads still arriving), a newcomer's request is a 503 in its
surface's shape that says to retry, and the connection closes. (Before: no bound; 20,000 idle
keep-alive clients held ~260 MB and every descriptor, bench/results/dos25.md.)"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson

from tests.probe23a_rig import ANSWER, rig, whole

CAP = 16


def _capped(text: str) -> str:
    return text.replace(
        "[server]\n", f"[server]\nmax_connections = {CAP}\nclient_read_timeout_s = 20\n", 1
    )


def _ask(port: int, key: str, marker: str, path: str = "/v1/chat/completions") -> socket.socket:
    """A keep-alive connection that sent one chat request."""
    body = orjson.dumps({"model": "oa-1", "messages": [{"role": "user", "content": marker}]})
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(15)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {key}\r\n"
        f"x-api-key: {key}\r\nanthropic-version: 2023-06-01\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    """One whole answer (read up to its content-length)."""
    got = b""
    while b"\r\n\r\n" not in got:
        piece = sock.recv(65536)
        assert piece, got
        got += piece
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_idle_connections_make_room_and_busy_ones_refuse(tmp_path: Path) -> None:
    with rig(tmp_path, _capped) as r:
        port = r.sidecar.port
        ask = r.script("ok", lambda sock, path, body: whole(sock, ANSWER))
        idle = []
        for _ in range(CAP):
            sock = _ask(port, r.key, ask)
            assert b" 200 " in _answer(sock).split(b"\r\n")[0]
            idle.append(sock)
            time.sleep(0.01)  # (an order of going idle)
        try:
            newcomer = _ask(port, r.key, ask)
            assert b" 200 " in _answer(newcomer).split(b"\r\n")[0]  # served: room was made
            assert _closed(idle[0])  # the first to go idle was closed for it
            assert not _closed_now(idle[-1])  # the last to go idle is still open
            newcomer.close()
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.5)
        # every connection busy: heads that are still coming (within client_read_timeout_s)
        half = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthoriz"
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(CAP)]
        try:
            for sock in held:
                sock.sendall(half)
            time.sleep(0.3)
            for path, shape in (("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")):
                late = _ask(port, r.key, ask, path)
                got = _answer(late)
                head, _, body = got.partition(b"\r\n\r\n")
                assert b" 503 " in head.split(b"\r\n")[0], got[:300]
                assert b"x-should-retry: true" in head.lower()
                err = orjson.loads(body)
                if shape == "openai":
                    assert err["error"]["code"] == "too_many_connections"
                else:
                    assert (
                        err["type"] == "error"
                        and "server.max_connections" in (err["error"]["message"])
                    )
                assert _closed(late)
                late.close()
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.5)
        again = _ask(port, r.key, ask)  # the busy ones gone: served again
        assert b" 200 " in _answer(again).split(b"\r\n")[0]
        again.close()


def _closed_now(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
