"""What the sidecar's protocol (client_timeout.py) tells a request about its client connection.

Served by `arbiter serve`, each request's ASGI scope carries its connection's
`ClientConnection` (`SCOPE_KEY`): whether the connection is lost, and who is to hear of it
(disconnect.py's `CancelOnDisconnect`), and whether a request body is still arriving
(request_body.py arms its read timeout only then). Both replace per-request machinery that a
request arriving alone pays for in full: a watcher task, and a timer armed and cancelled around
a body that had already arrived with its head (bench/results/scale.md, ninth session). Served
otherwise (an ASGI app driven in process), a scope has none, and callers do what ASGI alone
allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SCOPE_KEY = "arbiter.client_connection"


class ClientConnection:
    """One client connection, as its protocol sees it."""

    __slots__ = ("body_due", "callbacks", "flow", "lost")

    def __init__(self) -> None:
        self.lost = False
        # uvicorn's flow control: while it has paused reading (a pipelined request waiting), a
        # client's close goes unread, and unseen (see `hears_loss`)
        self.flow: Any = None
        # a request's body is still arriving (between a head's end and its message's end): with
        # pipelining, the parser's latest request's; False means every parsed body is whole
        self.body_due = False
        self.callbacks: set[Callable[[], None]] = set()  # run once when the connection is lost

    def hears_loss(self) -> bool:
        """Whether a loss would be seen now: not while reading is paused (uvicorn's receive()
        resumes it; a watcher that calls it hears the close)."""
        return self.flow is None or not self.flow.read_paused

    def fire_lost(self) -> None:
        self.lost = True
        for callback in list(self.callbacks):  # (each removes itself as its block ends)
            callback()


def of_scope(scope: Mapping[str, Any] | None) -> ClientConnection | None:
    """The request's connection, when the sidecar's protocol serves it."""
    found = scope.get(SCOPE_KEY) if scope is not None else None
    return found if isinstance(found, ClientConnection) else None
