"""Noticing a client that leaves mid-request, so its upstream call stops (and stops costing).

uvicorn never cancels a request's task when its client disconnects; it only answers the next
`receive()` with `http.disconnect`. While a `CancelOnDisconnect` block runs, the request's task
is cancelled once the client has gone; the block then raises ClientDisconnected.

Under `arbiter serve` the connection says so itself: the block registers a callback with the
request's `ClientConnection` (client_connection.py) for its duration, which the protocol runs
when the connection is lost (and the block cancels at once if it was lost before it began).
Elsewhere (an ASGI app driven in process, a receive wrapped by a middleware, a connection
whose reading uvicorn has paused for a pipelined request) one small task waits for
`http.disconnect` instead. That task was one task created, stepped, cancelled and
stepped again per request (~4 us of CPU warm, more for a request that arrives alone:
bench/results/scale.md, ninth session).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive

from arbiter.client_connection import ClientConnection, of_scope
from arbiter.errors import ClientDisconnected


def _connection_of(receive: Receive) -> ClientConnection | None:
    """The request's ClientConnection, when `receive` is uvicorn's own (a request cycle's bound
    method, whose scope the sidecar's protocol gave it), else None."""
    scope = getattr(getattr(receive, "__self__", None), "scope", None)
    return of_scope(scope) if isinstance(scope, dict) else None


class CancelOnDisconnect:
    __slots__ = ("_connection", "_left", "_receive", "_task", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._left = False
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._connection: ClientConnection | None = None

    def left_already(self) -> bool:
        """Whether the client is known to have left before the block begins (under `arbiter
        serve`; elsewhere only the watcher task can tell, once the block runs). The request
        path asks before it enters the block that makes its upstream call: a client gone while
        the request waited (on its budget reservation, behind a locked row, say) must not have
        a call made for it, which, cancelled only at its first suspension (the request may be
        written by then), was charged its worst case (probe18m)."""
        connection = _connection_of(self._receive)
        return connection is not None and connection.lost

    def __enter__(self) -> CancelOnDisconnect:
        self._task = asyncio.current_task()
        connection = _connection_of(self._receive)
        if connection is not None and connection.lost:
            # gone already: cancelled from the next loop step, as the watcher task would (a
            # block that ends before it needs no cancelling)
            asyncio.get_running_loop().call_soon(self._lost)
        elif connection is not None and connection.hears_loss():
            self._connection = connection
            connection.callbacks.add(self._lost)
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
        if self._connection is not None:
            self._connection.callbacks.discard(self._lost)
            self._connection = None
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
