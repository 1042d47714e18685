"""An HTTP/1.0 client's answer of unknown length (a stream) is delimited by the close.

uvicorn frames any answer without a Content-Length with `Transfer-Encoding: chunked`, whatever
the request's version; RFC 9112 (6.1) forbids chunked to an HTTP/1.0 client, which reads the
chunk sizes as part of the body (`curl --http1.0` shows `7f\r\ndata: ...`). For such a request the
head goes out without a transfer coding, the body as it comes, and the connection's close ends
it (an HTTP/1.0 connection closes after its answer anyway: uvicorn keeps none alive).
It only frames: the protocol (client_timeout.py) decides which requests get this cycle.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from arbiter.lean_head import LeanCycle

_FRAMED = (b"content-length", b"transfer-encoding")


class CloseDelimitedCycle(LeanCycle):
    """uvicorn's request/response cycle (its head as lean_head.py writes it), with a body of
    unknown length sent raw (no chunks)."""

    close_delimited = False

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started:
            if self._unframed(message):
                self.close_delimited = True
                # uvicorn adds chunked only while this is None; False with no Content-Length
                # means: write the body as it comes (nothing is counted against a length)
                self.chunked_encoding = False
                self.keep_alive = False
        elif kind == "http.response.body" and self.close_delimited and not self.response_complete:
            await self._send_raw(message)
            return
        await super().send(message)

    def _unframed(self, message: Any) -> bool:
        if self.scope["method"] == "HEAD" or message["status"] in (204, 304):
            return False
        return not any(name.lower() in _FRAMED for name, _ in message.get("headers", ()))

    async def _send_raw(self, message: Any) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        body = message.get("body", b"")
        if body:
            self.transport.write(body)
        if not message.get("more_body", False):
            self.response_complete = True
            self.message_event.set()
            self.transport.close()  # the end of the body, as the client reads it
            self.on_response()


def use_for(cycle: RequestResponseCycle) -> None:
    """Give an HTTP/1.0 request's cycle, before its app runs, the close-delimited framing."""
    cycle.__class__ = CloseDelimitedCycle  # no state of its own beyond a class default
