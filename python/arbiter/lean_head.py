"""uvicorn's response head, written without a Python loop over its header lines.

uvicorn's `RequestResponseCycle.send` writes an answer's head one header line at a time: two
regex searches (a bad name, a bad value), a lowercasing and three comparisons each, ~40 bytecode
instructions a line, ~500 for a chat answer's twelve lines: the largest single function a
request runs on the loop (bench/results/scale.md, diet22). `LeanCycle` checks all the names in
one search and all the values in another (the patterns are single-character classes: a match in
the joined bytes is a match in one of them), lowercases and joins them in C, and looks for the
three lines that frame the answer (content-length, transfer-encoding, connection) with list
scans. What it does not cover it hands to uvicorn's own code, which then does exactly what it
did: a bad line (uvicorn's error names the first), a transfer-encoding or connection line, a
second content-length, headers that are not pairs of bytes, the access log on.

A body message (one for a whole answer, one per piece of a stream) is written by a copy of
uvicorn's body code in the same call, not through uvicorn's `send` as a second coroutine; a
cycle whose writing is paused, whose client is gone or whose answer is complete goes to
uvicorn's code, which drains, drops or raises as it did.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)

_CLOSE_LINE = b"connection: close\r\n"
_CHUNKED_LINE = b"transfer-encoding: chunked\r\n"


class LeanCycle(RequestResponseCycle):
    """uvicorn's request/response cycle with the head written as the module text says."""

    async def send(self, message: Any) -> None:
        if self.response_started:
            # a body piece (a stream's many): written here, not through a second coroutine
            if self.flow.write_paused or self.disconnected or self.response_complete:
                await RequestResponseCycle.send(self, message)  # (drains, drops, or raises)
            else:
                self._body(message)
            return
        if self.access_log or message["type"] != "http.response.start":
            await RequestResponseCycle.send(self, message)
            return
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        head = None if self.response_started else self._head(message)
        if head is None:
            await RequestResponseCycle.send(self, message)  # (its checks again: all pass)
            return
        self.transport.write(head)

    def _body(self, message: Any) -> None:
        """uvicorn's code for a body message, once the head is written and nothing is paused,
        cut off or complete (the rest stays uvicorn's)."""
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
        elif self.chunked_encoding:
            if body:
                end = b"\r\n" if more_body else b"\r\n0\r\n\r\n"
                self.transport.write(b"".join((b"%x\r\n" % len(body), body, end)))
            else:
                self.transport.write(b"" if more_body else b"0\r\n\r\n")
        else:
            num_bytes = len(body)
            if num_bytes > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= num_bytes
            self.transport.write(body)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def _head(self, message: Any) -> bytes | None:
        """The head's bytes, the cycle's framing set as uvicorn's loop sets it; None (nothing
        changed) for what uvicorn's code should write itself (module text)."""
        try:
            status = message["status"]
            status_line = STATUS_LINE[status]
            given = message.get("headers", ())
            if type(given) is not list and type(given) is not tuple:
                return None  # (read once: an iterator left to uvicorn's code whole)
            headers = self.default_headers + list(given)
            if headers:
                # each line a pair: the transposition (strict: lines of one length) has 2 rows
                columns = list(zip(*headers, strict=True))
                if len(columns) != 2:
                    return None
                names, values = columns
                if HEADER_RE.search(b"".join(names)) or HEADER_VALUE_RE.search(b"".join(values)):
                    return None
                lowered = list(map(bytes.lower, names))
                if b"transfer-encoding" in lowered or b"connection" in lowered:
                    return None
                lengths = lowered.count(b"content-length")
                if lengths > 1:
                    return None
                expected = None
                if lengths and self.chunked_encoding is None:
                    expected = int(values[lowered.index(b"content-length")].decode())
                lines = b"\r\n".join(map(b": ".join, zip(lowered, values, strict=True))) + b"\r\n"
            else:
                expected, lines = None, b""
        except (TypeError, ValueError, KeyError, AttributeError, UnicodeDecodeError):
            return None  # uvicorn's code raises what it raised
        self.response_started = True
        self.waiting_for_100_continue = False
        if expected is not None:
            self.expected_content_length = expected
            self.chunked_encoding = False
        tail = b"\r\n"
        bodied = self.scope["method"] != "HEAD" and status not in (204, 304)
        if self.chunked_encoding is None and bodied:
            self.chunked_encoding = True
            tail = _CHUNKED_LINE + tail
        if not self.keep_alive:
            tail = _CLOSE_LINE + tail
        return status_line + lines + tail
