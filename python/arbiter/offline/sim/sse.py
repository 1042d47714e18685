"""The simulator's SSE response: paced events, and a connection that can die mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class EventStream(Response):
    """SSE that it writes itself, so it can pace chunks and die mid-stream (an abrupt close).

    Events from index `pace_from` up to the last one wait `gap` seconds before they are sent;
    at index `cut_at` (if any) the server drops the connection instead of sending the rest.
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
    ) -> None:
        # Response.__init__ is not called: this body has no length, it is written as it goes.
        self.status_code = 200
        self.background = None
        self._events, self._first, self._gap, self._cut_at = events, first_delay, gap, cut_at
        self._pace_from = pace_from
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"cache-control", b"no-cache"), *extra]  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(self._first)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            last = len(self._events) - 1
            for i, event in enumerate(self._events):
                if i == self._cut_at:
                    return  # the server drops the connection: no proper end of the stream
                if self._pace_from <= i < last and self._gap > 0:
                    await asyncio.sleep(self._gap)
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away
            return
