"""One send per small response instead of two: the response head waits for the first body bytes.

uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`, and uvloop sends each at once: two syscalls and two TCP segments per answer,
the first of them alone on the wire. A write on loopback runs the whole TCP path of both ends, so
it is one of the largest single costs per request (bench/results/overhead.profile.md, eighth
session). This transport, handed to each request's uvicorn cycle, holds the first write until the
next one and sends both together. What it holds is sent at the latest at the end of the current
event-loop step (a streamed response's head when its first event is not ready yet), or before a
close: the bytes and their order are unchanged, never delayed past the running step.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HeldHeadTransport:
    """Wraps a connection's transport for one request/response cycle (the methods uvicorn's
    RequestResponseCycle calls: write, close, is_closing; the rest pass through)."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = b""  # b"": nothing written yet; None: no longer holding

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._transport.write(data)
        elif held:
            self._held = None
            self._transport.write(held + data)
        else:  # the first write (the head): held until the next one or the step's end
            self._held = bytes(data)
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
