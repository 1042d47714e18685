"""Raw HTTP/1.1 over a socket to a sidecar on 127.0.0.1: the transport probes' one reader."""

from __future__ import annotations

import socket


def read_all(sock: socket.socket) -> bytes:
    """Everything until the sidecar closes; a reset, or a kept-alive connection's read timeout,
    ends it too: what came before is the answer."""
    got = b""
    try:
        while piece := sock.recv(65536):
            got += piece
    except (ConnectionResetError, TimeoutError):
        pass
    return got


def exchange(port: int, sent: bytes, timeout: float = 10.0) -> bytes:
    """Send `sent` on a fresh connection and read the answer (read_all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(sent)
        return read_all(sock)


def send_past(sock: socket.socket, line: bytes, limit: int) -> None:
    """Send `line` over and over a little past `limit` bytes (so the answer is read while the
    sidecar still drains the rest: no reset on a loaded machine); a close under us ends it."""
    sent = 0
    try:
        while sent < limit + 4 * len(line):
            sock.sendall(line)
            sent += len(line)
    except OSError:
        pass  # closed under us: what it answered is still readable
