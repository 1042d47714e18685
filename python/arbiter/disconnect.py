"""Noticing a client that leaves mid-request, so its upstream call stops (and stops costing).

uvicorn never cancels a request's task when its client disconnects; it only answers the next
`receive()` with `http.disconnect`. While a `CancelOnDisconnect` block runs, one small task waits
for that message and cancels the request's task once; the block then raises ClientDisconnected.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive

from arbiter.errors import ClientDisconnected


class CancelOnDisconnect:
    __slots__ = ("_left", "_receive", "_task", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._left = False
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None

    def __enter__(self) -> CancelOnDisconnect:
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._watcher is not None and self._task is not None
        task, self._task = self._task, None
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
        self._left = True
        if self._task is not None:  # None: the block has ended meanwhile
            self._task.cancel()
