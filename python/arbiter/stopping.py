"""Whether this process is shutting down: set when SIGTERM's graceful wait begins
(cli_serve.py), read by a stream that the end of that wait cuts (relay.py), so its client gets
an error event in its surface's shape instead of a connection that just stops. Owned by Services."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.errors import ArbiterError


@dataclass(slots=True)
class Stopping:
    started: bool = False
    # SIGTERM (or SIGINT) arrived: set by the signal, before uvicorn's loop notices it and
    # closes the listener; /readyz says `draining` from then (probes.py)
    draining: bool = False


class ServerStopping(ArbiterError):
    """The server stopped (SIGTERM, `server.shutdown_grace_s` ran out) with the stream open."""

    status = 503
    code = "server_shutting_down"
    type = "server_error"
