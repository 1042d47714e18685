"""The interface the pipeline uses to call an upstream, whatever its protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from arbiter.config import ModelSettings
from arbiter.types import ChatResult, Usage


class UpstreamStream(Protocol):
    """An open streaming answer: the status was 2xx and the first event carrying content (text,
    a tool call, a finish reason or usage) has arrived, so a failure before it can fail over."""

    def events(self) -> AsyncIterator[bytes]:
        """Raw SSE `data:` payloads (without the prefix), `[DONE]` excluded, one at a time as
        they arrive. Raises an UpstreamError when the stream breaks, stalls or passes the total
        timeout."""
        ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def done(self) -> bool:
        """True once the upstream sent `data: [DONE]`: the only sign the answer is complete."""
        ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult: ...

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> UpstreamStream:
        """Open a stream; `deadline` (time.monotonic()) bounds the whole stream, not only its
        opening: the request's deadline covers every event relayed."""
        ...

    async def aclose(self) -> None: ...
