"""The streamed (SSE) HTTP response: relays body chunks and notices a client that leaves.

Starlette's StreamingResponse opens an anyio task group per response to listen for the
disconnect; profiled on the streaming path, that machinery cost more than our own relay. Here
`CancelOnDisconnect` does it with one plain asyncio task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import ClientDisconnected

# The relay itself ends a stream at the request's deadline (its upstream reads keep to it); past
# it by this much, the response is still blocked, on a client that does not read: stop it.
DEADLINE_GRACE_S = 1.0


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: Mapping[str, str],
        background: BackgroundTask | None = None,
        *,
        deadline: float | None = None,
        on_expired: Callable[[], None] | None = None,
        within: AbstractContextManager[object] | None = None,
    ) -> None:
        """`deadline` (time.monotonic()): the request's; `on_expired` runs when the response is
        stopped at it (+ the grace), before the body is cancelled. `within`: entered around the
        relay and the background task (the request's own context: request_log.serving)."""
        self.body_iterator = body
        self.status_code = 200
        self.background = background
        self.deadline = deadline
        self.on_expired = on_expired
        self.within = within
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.within is None:
            await self._relay(receive, send)
            return
        with self.within:
            await self._relay(receive, send)

    async def _relay(self, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            if self.on_expired is not None:
                self.on_expired()
            assert task is not None
            task.cancel()

        watchdog = None
        if self.deadline is not None:
            wait = max(self.deadline - time.monotonic(), 0.0) + DEADLINE_GRACE_S
            watchdog = asyncio.get_running_loop().call_later(wait, expire)
        try:
            with CancelOnDisconnect(receive):
                start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                await send(start)
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientDisconnected:
            pass  # the body's own cleanup recorded it; nobody is left to answer
        except asyncio.CancelledError:
            if not expired:
                raise
            assert task is not None
            task.uncancel()  # our own cancel: the response ends here, unfinished
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if self.background is not None:
            await self.background()
