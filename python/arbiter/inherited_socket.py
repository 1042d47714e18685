"""A listening socket one process opens and a child server inherits (`serve` / `sim` `--fd`).

Choosing a free port by binding port 0, closing, and handing the number to a child leaves a
window in which anything else on the host can take that port: two demos or test stacks started
at once then collide (the child fails to bind, or, worse, the parent's health check reaches the
other stack's server). A socket that is already listening when its port is chosen has no such
window: the parent binds and listens, the child serves on the very same socket (passed by file
descriptor), and the port is never free in between.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

LOOPBACK = "127.0.0.1"
_BACKLOG = 2048


def loopback_listener(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A TCP socket listening on a port the kernel picked, ready to hand to a child; `port`: that
    one again (a child restarted where its predecessor served)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # as uvicorn's own bind: a server restarted on the port must not be kept from it by
        # its predecessor's closing connections (they inherit this flag from the listener)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def unheld_port() -> int:
    """A loopback port free at this moment, for a child that can only be given a number (a
    PostgreSQL server, commands run verbatim from the README). The window described above
    remains for these: anything that can take a socket gets `loopback_listener` instead."""
    with loopback_listener() as sock:
        return port_of(sock)


def fd_args(sock: socket.socket) -> list[str]:
    """The command-line words that tell `arbiter serve` / `arbiter sim` to serve on `sock`."""
    return ["--fd", str(sock.fileno())]


def spawn_on(
    sock: socket.socket, argv: Sequence[str], env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start `argv` (which names the socket with `fd_args`) with `sock` inherited, then close
    this process's copy: the child holds the port from here on, and its exit frees it."""
    try:
        return subprocess.Popen(list(argv), env=env, pass_fds=(sock.fileno(),), **popen)
    finally:
        sock.close()


def adopt(fd: int) -> socket.socket:
    """In the child: the inherited listening socket. A wrong descriptor is a clear error, not a
    server that starts and never accepts."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as err:
        raise ValueError(f"--fd {fd}: not an open socket ({err.strerror})") from None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        sock.detach()  # not ours to close
        raise ValueError(f"--fd {fd}: not a listening TCP socket")
    # what this server starts in turn (its store writer, sandboxes) must not hold the port:
    # a server killed with -9 would leave it taken until they end
    sock.set_inheritable(False)
    return sock
