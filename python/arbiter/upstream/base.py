"""The interface the pipeline uses to call an upstream, whatever its protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from arbiter.canonical import Protocol as WireProtocol
from arbiter.config import ModelSettings
from arbiter.types import ChatResult, Usage


class UpstreamStream(Protocol):
    """An open streaming answer: the status was 2xx and the first event carrying content (text,
    a tool call, a finish reason or usage) has arrived, so a failure before it can fail over."""

    protocol: WireProtocol  # what events() yields

    def events(self) -> AsyncIterator[bytes]:
        """Protocol-native items, one at a time as they arrive. OpenAI: the SSE `data:`
        payloads without the prefix, `[DONE]` excluded. Anthropic: whole SSE frames
        (`event: X\ndata: {...}\n\n`), each one's JSON checked. Raises an UpstreamError when
        the stream breaks, stalls, sends an error event, passes `max_event_bytes` (one line or
        frame) or `max_response_bytes` (the whole stream), or runs past its deadline."""
        ...

    @property
    def usage(self) -> Usage | None: ...

    # counts sent while the answer ran (a lower bound of the bill, never the bill), or None
    running_usage: Usage | None
    # events that had come and were not read when aclose() closed it early
    unread_events: int

    @property
    def done(self) -> bool:
        """True once the upstream sent its end (`data: [DONE]`, `message_stop`): the only sign
        the answer is complete."""
        ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    """One provider: it takes and returns bodies in its own protocol (`protocol`); errors come
    as the ArbiterError tree, in words safe to show a client."""

    protocol: WireProtocol  # "openai" or "anthropic"

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        """The whole answer (ChatResult.protocol says its format), within the total timeout
        and `max_response_bytes`."""
        ...

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> UpstreamStream:
        """Open a stream; `deadline` (time.monotonic()) bounds the whole stream, not only its
        opening: every read keeps to min(attempt start + total timeout, deadline), and a stream
        still running then raises UpstreamTimeout."""
        ...

    async def aclose(self) -> None: ...

    async def retire(self) -> None:
        """Replaced by a reload: calls in flight finish, then its connections close."""
        ...
