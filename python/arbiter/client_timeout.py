"""A client read timeout for the request line and headers (uvicorn has none).

uvicorn closes an idle keep-alive connection, but a request that has begun may take for ever:
a client that sends half a request line or half its headers, then stalls, holds its connection
and a parser open indefinitely. This subclass of uvicorn's httptools protocol gives the head of
each request `server.client_read_timeout_s` from its first byte (a new connection: from the
connect), then answers 408 in OpenAI's error shape and closes. The body is bounded by
`server.read_body` under the same timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from arbiter.errors import RequestTimeout
from arbiter.surfaces.openai_chat import error_bytes


def _timeout_response() -> bytes:
    body = error_bytes(RequestTimeout("The request headers did not arrive in time."))
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
    )
    return head + body


class ClientReadTimeoutProtocol(HttpToolsProtocol):
    read_timeout_s: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # (a new connection's timer runs on: its first head gets no extra time)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.read_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_timeout_response())
            self.transport.close()


def protocol_with_read_timeout(timeout_s: float) -> type[ClientReadTimeoutProtocol]:
    """The protocol class to give uvicorn (`http=`), with this head timeout."""
    return type(
        "ClientReadTimeoutProtocol", (ClientReadTimeoutProtocol,), {"read_timeout_s": timeout_s}
    )
