"""One send per event-loop step instead of one per ASGI message.

uvicorn writes a response's status line and headers, then its body, each with its own
`transport.write`, and a streamed response writes each event the same way; uvloop sends each at
once: a syscall and a TCP segment apiece. A write on loopback runs the whole TCP path of both
ends, so the writes were the largest single cost of a request (bench/results/overhead.profile.md,
eighth session). This transport, under each client connection, gathers what is written during
one step of the event loop and sends it together at the step's end (or before a close). The
bytes and their order are unchanged; nothing waits past the running step, so a stream's events
that come apart (a real model's tokens) still go out one by one, as they come.
"""

from __future__ import annotations

import asyncio
from typing import Any


class StepWrites:
    """Wraps a connection's transport (client_timeout.py's protocol installs it when the
    connection is made): writes are held to the step's end; close and write_eof send what is
    held first; the rest passes through."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] | None = None  # written during this step, not yet sent
        # the connection's loop, once: get_running_loop() is a getpid() system call (CPython
        # 3.11 checks for a fork) at each answer
        self._loop: asyncio.AbstractEventLoop | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = [bytes(data)]
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
        else:
            self._held.append(bytes(data))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is None or self._transport.is_closing():
            return
        if len(held) == 1:
            self._transport.write(held[0])
        else:
            self._transport.writelines(held)  # one send, without joining the pieces first

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None  # an abort drops what is unsent, held here or in the transport
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
