"""Noticing a client that leaves mid-request, so its upstream call stops (and stops costing).

uvicorn never cancels a request's task when its client disconnects; it only answers the next
`receive()` with `http.disconnect`. While a `CancelOnDisconnect` block runs, the request's task
is cancelled once the client has gone; the block then raises ClientDisconnected.

Under `arbiter serve` the connection says so itself: its protocol (client_timeout.py) puts its
`ConnectionLoss` in each request's scope (`DISCONNECT_KEY`) and fires it when the connection is
lost; the block registers a callback there for its duration (and cancels at once if the
connection was lost before it began). Elsewhere (an ASGI app driven in process, a receive
wrapped by a middleware) one small task waits for `http.disconnect` instead. That task was one
task created, stepped, cancelled and stepped again per request (~4 us of CPU warm, more for a
request that arrives alone: bench/results/scale.md, ninth session).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from starlette.types import Receive

from arbiter.errors import ClientDisconnected

# the request scope's key for its connection's ConnectionLoss
DISCONNECT_KEY = "arbiter.connection_loss"


class ConnectionLoss:
    """One client connection's loss: whether it happened, and who is to hear of it."""

    __slots__ = ("callbacks", "lost")

    def __init__(self) -> None:
        self.lost = False
        self.callbacks: set[Callable[[], None]] = set()

    def fire(self) -> None:
        self.lost = True
        for callback in list(self.callbacks):  # (each removes itself as its block ends)
            callback()


def _loss_of(receive: Receive) -> ConnectionLoss | None:
    """The connection's ConnectionLoss, when `receive` is uvicorn's own (a request cycle's
    bound method, whose scope our protocol gave it), else None."""
    scope = getattr(getattr(receive, "__self__", None), "scope", None)
    found = scope.get(DISCONNECT_KEY) if isinstance(scope, dict) else None
    return found if isinstance(found, ConnectionLoss) else None


class CancelOnDisconnect:
    __slots__ = ("_left", "_loss", "_receive", "_task", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._left = False
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._loss: ConnectionLoss | None = None

    def __enter__(self) -> CancelOnDisconnect:
        self._task = asyncio.current_task()
        loss = _loss_of(self._receive)
        if loss is not None and loss.lost:
            self._lost()  # gone already: the block's first wait is cancelled
        elif loss is not None:
            self._loss = loss
            loss.callbacks.add(self._lost)
        else:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        task, self._task = self._task, None
        if self._loss is not None:
            self._loss.callbacks.discard(self._lost)
            self._loss = None
        if self._watcher is not None:
            self._watcher.cancel()
        # the cancelled watcher keeps its CancelledError, whose traceback holds _watch's frame
        # and so `self`: without these references that is a cycle (watcher -> error -> frame ->
        # self -> watcher) that only a garbage collection frees; at load such cycles outlive
        # the young collections, and full collections over them stalled the loop for 10-80 ms
        # (bench/results/scale.md, tail, fourth session)
        self._watcher = None
        if self._left and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            task.uncancel()  # our own cancel, taken back: later timeouts in the task work
            raise ClientDisconnected("the client disconnected") from None

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._lost()

    def _lost(self) -> None:
        self._left = True
        if self._task is not None:  # None: the block has ended meanwhile
            self._task.cancel()
