"""ops27: idle sockets do not starve a liveness probe during start-up. The early listener
(early_listen.py) answers 32 connections at once; each was given 5 s to send its head, so 32
silent connections (or ones trickling a head byte by byte) held every slot and a `/livez` probe
behind them waited up to 5 s, past a kubelet's default 1 s probe timeout. Now, while another
connection waits, the oldest one still reading its head closes to make room: with 64 silent or
trickling connections open, a probe is answered in under 1 s; probes that send their heads are
never closed for one another (64 at once, all answered)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pytest

from arbiter.early_listen import EarlyListener
from arbiter.inherited_socket import loopback_listener, port_of

PROBE = b"GET /livez HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: kube-probe/1.30\r\n\r\n"


@contextmanager
def _listening() -> Iterator[tuple[EarlyListener, int]]:
    sock = loopback_listener()
    early = EarlyListener(sock)
    early.start()
    try:
        yield early, port_of(sock)
    finally:
        early.stop()
        sock.close()


def _probe(port: int, timeout_s: float) -> bytes:
    """A probe's whole exchange: its head at once, then its answer read to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(PROBE)
        got = b""
        while chunk := conn.recv(4096):
            got += chunk
        return got


@pytest.mark.parametrize("sends", [b"", b"GET /livez HT"], ids=["silent", "trickling"])
def test_a_probe_behind_64_idle_connections_is_answered_within_a_second(sends: bytes) -> None:
    with _listening() as (early, port), ExitStack() as idle:
        for _ in range(64):
            conn = idle.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            conn.sendall(sends)  # a head begun and never ended, or nothing at all
        time.sleep(0.3)  # the first 32 hold their slots; the other 32 wait in the backlog
        t0 = time.monotonic()
        got = _probe(port, timeout_s=10)
        took = time.monotonic() - t0
        assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b'{"status":"ok"}'), got
        assert took < 1.0, f"the probe waited {took:.2f} s behind idle connections"
        assert early.evicted >= 32  # the ones it passed were closed, not answered


def test_64_probes_at_once_are_all_answered() -> None:
    with _listening() as (_, port), ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda _: _probe(port, timeout_s=10), range(64)))
    # none closed unanswered to make room for another (a guard: it held before too)
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers), answers
