"""A client that half-closes (sends its request, then shuts down its write side: `nc -N`,
some proxies and scripts) is still answered: HTTP/1.1 allows it, and uvicorn read the EOF as a
disconnect, so the request was cancelled unanswered.

TCP cannot tell a half-close from a full close by the FIN alone: both are an EOF here. A peer
that has fully closed answers data with a reset, one that only half-closed takes it. So on the
EOF (a request whole, its answer not begun) the connection writes an interim `100 Continue`,
which an HTTP/1.1 client must accept and may ignore (RFC 9110 15.2), and reads the socket's TCP
state a few times soon after: CLOSE (the reset came) is a client gone, and the request is
cancelled as before (its upstream call too: disconnect.py). Past the last look, a client that
leaves is seen when its answer is written. HTTP/1.0 has no 1xx (RFC 9110 15.2): no probe there.
It owns the probe only; client_timeout.py decides when an EOF keeps the connection.
"""

from __future__ import annotations

import socket
from typing import Any

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# when the state is read after the probe: a loopback reset takes microseconds, a LAN's a
# millisecond, a far client's a round trip
LOOKS_S = (0.02, 0.25, 1.0, 3.0)
_TCP_CLOSE = 7  # <netinet/tcp.h> TCP_CLOSE: the reset came (a half-closed peer: CLOSE_WAIT)


def peer_reset(transport: Any) -> bool:
    """Whether the connection's socket has taken a reset (its peer had closed, not half)."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return False
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return True  # the socket is gone under us
    return bool(info[0] == _TCP_CLOSE)
