"""A child server's port is held from the moment it is chosen (inherited_socket.py): no other
process can take it before the child serves on it, so stacks started at once cannot collide."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from arbiter.inherited_socket import adopt, loopback_listener, port_of
from tests.conftest import ENV, Sidecar


def _steal(port: int, reuse: bool = False) -> None:
    """What another demo or test stack does with a port it was told is free (`reuse`: as a
    server binds it, SO_REUSEADDR, which Linux still refuses while anything listens there)."""
    with socket.socket() as thief:
        if reuse:
            thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        thief.bind(("127.0.0.1", port))
        thief.listen()


def test_a_sidecars_port_cannot_be_taken_between_its_choice_and_its_start(
    sidecar_config: Path,
) -> None:
    s = Sidecar(sidecar_config)  # the port is chosen here; the child starts later
    try:
        with pytest.raises(OSError) as taken:
            _steal(s.port)
        assert taken.value.errno == errno.EADDRINUSE
        s.start()
        assert httpx.get(f"{s.root_url}/healthz").status_code == 200
    finally:
        s.stop()
    # stopped: the port is free again (the parent kept no copy); as a server takes it: a
    # connection the sidecar closed first (early_listen.py's answers during start-up, which
    # Sidecar.start's polls may meet) leaves TIME_WAIT on the port, which a plain bind refuses
    _steal(s.port, reuse=True)


def test_a_descriptor_that_is_not_a_listening_socket_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound, not listening: accepts would never come
        bound.bind(("127.0.0.1", 0))
        proc = subprocess.run(
            [sys.executable, "-m", "arbiter", "sim", "--fd", str(bound.fileno())],
            env=ENV, pass_fds=(bound.fileno(),), capture_output=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().strip().endswith("not a listening TCP socket")
    with pytest.raises(ValueError, match="not an open socket"):
        adopt(10_000)


def test_a_listener_is_on_loopback_and_listening() -> None:
    with loopback_listener() as sock:
        assert sock.getsockname()[0] == "127.0.0.1" and port_of(sock) > 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
