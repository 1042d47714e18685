"""The streamed (SSE) HTTP response: relays body chunks and notices a client that leaves.

Starlette's StreamingResponse opens an anyio task group per response to listen for the
disconnect; profiled on the streaming path, that machinery cost more than our own relay. Here one
plain asyncio task waits for the disconnect and cancels the response's task, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: Mapping[str, str],
        background: BackgroundTask | None = None,
    ) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = background
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        left = asyncio.Event()
        watcher = asyncio.get_running_loop().create_task(_cancel_on_disconnect(receive, task, left))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left.is_set():
                raise  # cancelled from outside (shutdown): not ours to swallow
            task.uncancel()  # the client left: the response simply ends here
        finally:
            watcher.cancel()
        if self.background is not None:
            await self.background()


async def _cancel_on_disconnect(
    receive: Receive, task: asyncio.Task[None], left: asyncio.Event
) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    left.set()
    task.cancel()
