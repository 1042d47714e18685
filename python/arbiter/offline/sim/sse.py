"""The simulator's SSE response: paced events, and a connection that can die mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStream(Response):
    """SSE that it writes itself, so it can pace chunks and die mid-stream (an abrupt close).

    Events from index `pace_from` up to the last one wait `gap` seconds before they are sent;
    at index `cut_at` (if any) the server drops the connection instead of sending the rest.
    A client that closes the connection stops it there (`on_left` is told where).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: list[bytes],
        first_delay: float,
        gap: float,
        cut_at: int | None,
        headers: Mapping[str, str],
        *,
        pace_from: int = 2,
        on_left: Callable[[int], None] | None = None,
    ) -> None:
        # Response.__init__ is not called: this body has no length, it is written as it goes.
        self.status_code = 200
        self.background = None
        self._events, self._first, self._gap, self._cut_at = events, first_delay, gap, cut_at
        self._pace_from = pace_from
        self._on_left = on_left  # told the event being made when the client left (billing)
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"cache-control", b"no-cache"), *extra]  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()  # the client closed the connection before the end

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self._stream(send, gone)
        finally:
            watcher.cancel()

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        if await _left_within(gone, self._first):
            return self._client_left(0)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            last = len(self._events) - 1
            for i, event in enumerate(self._events):
                if i == self._cut_at:
                    return  # the server drops the connection: no proper end of the stream
                paced = self._pace_from <= i < last and self._gap > 0
                if await _left_within(gone, self._gap if paced else 0.0):
                    return self._client_left(i)
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away
            return

    def _client_left(self, at: int) -> None:
        """The client closed the connection while event `at` was being made (the events before
        it were sent): the sim stops, as a provider that sees the close stops generating."""
        if self._on_left is not None:
            self._on_left(at)


async def _left_within(gone: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` (the next event's making); True when the client left by then. The event
    being made is made either way (a provider notices a close between tokens)."""
    if seconds > 0:
        await asyncio.sleep(seconds)
    return gone.is_set()
