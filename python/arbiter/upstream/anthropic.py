"""Anthropic-protocol upstream (POST {base_url}/v1/messages) over the same lean transport,
timeouts and error classification as upstream/openai.py.

It speaks Anthropic bodies only: the caller passes an Anthropic Messages body (a client's,
relayed, or one built by protocols.anthropic.encode_request) and gets Anthropic bytes back.
Errors: 429 / `rate_limit_error` -> UpstreamRateLimited (with Retry-After), 529 /
`overloaded_error` and other 5xx -> UpstreamUnavailable, so failover treats them as it treats
OpenAI's. Deciding whether to retry stays failover.py's job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from arbiter import __version__
from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.errors import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from arbiter.protocols.anthropic_response import stop_reason_in
from arbiter.protocols.anthropic_stream import upstream_error
from arbiter.protocols.openai_response import finish_reason_out
from arbiter.types import ChatResult, Usage
from arbiter.upstream.openai import reported_cost, retry_after, transport_error
from arbiter.upstream.transport import H1Transport

log = logging.getLogger(__name__)
API_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    """Anthropic's base URL has no /v1 (the SDK appends /v1/messages); accept one with it too."""
    base = base_url.rstrip("/")
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def parse_usage(usage: Any, cost: float | None = None) -> Usage:
    """Anthropic's `input_tokens` excludes cache reads and writes; Usage.prompt_tokens is all
    input, with the cached parts also given on their own."""
    u = usage if isinstance(usage, dict) else {}

    def count(key: str) -> int:
        value = u.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    read, write = count("cache_read_input_tokens"), count("cache_creation_input_tokens")
    return Usage(
        prompt_tokens=count("input_tokens") + read + write,
        completion_tokens=count("output_tokens"),
        reported_cost_usd=cost,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


class AnthropicUpstream:
    """Same shape as OpenAIUpstream: prebuilt URL and headers, straight to the transport."""

    def __init__(
        self,
        settings: UpstreamSettings,
        failover: FailoverSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._failover = failover
        url = httpx.URL(messages_url(settings.base_url))
        headers = {
            "content-type": "application/json", "user-agent": f"arbiter/{__version__}",
            "anthropic-version": API_VERSION, "host": url.netloc.decode("ascii"),
        }  # fmt: skip
        if settings.api_key:
            headers["x-api-key"] = settings.api_key
        self._url = url
        self._headers = httpx.Headers(headers)
        self._transport = transport or H1Transport(max_connections_per_origin=512)
        connect = failover.connect_timeout_s
        self._stream_timeout = {
            "connect": connect, "read": failover.first_byte_timeout_s, "write": connect,
            "pool": connect,
        }  # fmt: skip
        self._complete_timeout = {**self._stream_timeout, "read": failover.total_timeout_s}

    async def _post(self, payload: bytes, timeouts: dict[str, float]) -> httpx.Response:
        request = httpx.Request(
            "POST", self._url, headers=self._headers, content=payload,
            extensions={"timeout": timeouts},
        )  # fmt: skip
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        started = time.perf_counter()
        payload = {**body, "model": model.upstream_model or model.name}
        payload.pop("stream", None)
        try:
            async with asyncio.timeout(self._failover.total_timeout_s):
                resp = await self._post(orjson.dumps(payload), self._complete_timeout)
                try:
                    await resp.aread()
                finally:
                    await resp.aclose()
        except TimeoutError as err:
            raise UpstreamTimeout(
                f"{model.name}: no complete answer within the total timeout"
            ) from err
        except httpx.HTTPError as err:
            raise transport_error(model.name, err) from err
        if resp.status_code >= 400:
            raise http_error(model.name, resp.status_code, resp.content, resp.headers)
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError as err:
            raise UpstreamError(f"{model.name}: malformed answer from upstream") from err
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise UpstreamError(f"{model.name}: malformed answer from upstream")
        text = "".join(
            b["text"] for b in data["content"]
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )  # fmt: skip
        return ChatResult(
            model=model.name,
            body=data,
            content=text,
            # the pipeline's cascade reads OpenAI's vocabulary ("length")
            finish_reason=finish_reason_out(stop_reason_in(data.get("stop_reason"))),
            usage=parse_usage(data.get("usage"), reported_cost(None, resp.headers)),
            latency_ms=(time.perf_counter() - started) * 1000,
            raw=resp.content,
        )

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> AnthropicStream:
        """`deadline` (time.monotonic()) is the request's: the whole stream ends by it."""
        payload = {**body, "model": model.upstream_model or model.name, "stream": True}
        started = time.monotonic()
        try:
            resp = await self._post(orjson.dumps(payload), self._stream_timeout)
        except httpx.HTTPError as err:
            raise transport_error(model.name, err) from err
        if resp.status_code >= 400:
            try:
                raw = await resp.aread()
            except httpx.HTTPError:
                raw = b""
            finally:
                await resp.aclose()
            raise http_error(model.name, resp.status_code, raw, resp.headers)
        own = started + self._failover.total_timeout_s
        stream = AnthropicStream(model.name, resp, own if deadline is None else min(own, deadline))
        await stream.prime()
        return stream


_MAX_HELD = 4  # content-free opening events held back while waiting for the first real one
_OPENING = frozenset({b"message_start", b"ping"})


class AnthropicStream:
    """One streaming answer. events() yields whole SSE frames (`event: X\\ndata: {...}\\n\\n`),
    which an Anthropic client can be sent unchanged and protocols.anthropic.StreamDecoder
    reads. Every event's JSON is checked (a malformed one raises UpstreamError), an `error`
    event raises the matching UpstreamError, and `done` turns True only at message_stop."""

    def __init__(self, model: str, resp: httpx.Response, deadline: float) -> None:
        self._model = model
        self._resp = resp
        self._raw = resp.aiter_raw()
        self._lines: deque[bytes] = deque()
        self._frame: list[bytes] = []
        self._partial = b""
        self._eof = False
        self._held: list[bytes] = []
        self._deadline = deadline
        self._cost = reported_cost(None, resp.headers)
        self._start_usage: dict[str, Any] = {}
        self.usage: Usage | None = None
        self.done = False

    async def _read(self) -> None:
        try:
            async with asyncio.timeout(max(self._deadline - time.monotonic(), 0.0)):
                piece = await self._raw.__anext__()
        except StopAsyncIteration:
            self._eof = True
            if self._partial:
                self._lines.extend((self._partial, b""))
                self._partial = b""
            return
        except TimeoutError as err:
            raise UpstreamTimeout(
                f"{self._model}: the answer did not finish within the total timeout"
            ) from err
        except httpx.HTTPError as err:
            raise transport_error(self._model, err, "mid-stream") from err
        lines = (self._partial + piece if self._partial else piece).split(b"\n")
        self._partial = lines.pop()
        self._lines.extend(lines)

    def _pop_frame(self) -> bytes | None:
        """The next complete frame among the lines read so far (a blank line ends a frame)."""
        while self._lines:
            line = self._lines.popleft().rstrip(b"\r")
            if line:
                self._frame.append(line)
            elif self._frame:
                frame, self._frame = self._frame, []
                return b"\n".join(frame) + b"\n\n"
        return None

    async def _next(self) -> tuple[bytes, bytes] | None:
        """(event type, frame) of the next event, or None at the end of the body."""
        while not self.done:
            frame = self._pop_frame()
            if frame is not None:
                kind = self._check(frame)
                if kind is not None:
                    return kind, frame
                continue
            if self._eof:
                return None
            await self._read()
        return None

    def _check(self, frame: bytes) -> bytes | None:
        data = [line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:")]
        if not data:
            return None  # a comment-only frame
        try:
            event = orjson.loads(b"\n".join(data))
        except orjson.JSONDecodeError as err:
            raise UpstreamError(f"{self._model}: malformed event in the stream") from err
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            raise UpstreamError(f"{self._model}: malformed event in the stream")
        if kind == "error":
            raise upstream_error(self._model, event.get("error"))
        if kind == "message_start":
            message = event.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            self._start_usage = usage if isinstance(usage, dict) else {}
            self.usage = parse_usage(self._start_usage, self._cost)
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            # delta counts are cumulative; input counts only when the upstream repeats them
            merged = {
                **self._start_usage,
                **{k: v for k, v in event["usage"].items() if v is not None},
            }
            self.usage = parse_usage(merged, self._cost)
        elif kind == "message_stop":
            self.done = True
        return kind.encode()

    async def prime(self) -> None:
        """Read up to the first event with content, holding back message_start, pings and an
        empty text block start, so a failure before the first token can still fail over."""
        try:
            while True:
                got = await self._next()
                if got is None:
                    raise UpstreamError(f"{self._model}: stream ended before any content")
                kind, frame = got
                self._held.append(frame)
                opening = kind in _OPENING or (
                    kind == b"content_block_start" and b'"text":""' in frame.replace(b" ", b"")
                )
                if not opening or len(self._held) > _MAX_HELD:
                    return
        except BaseException:
            await self.aclose()
            raise

    async def events(self) -> AsyncIterator[bytes]:
        held, self._held = self._held, []
        for frame in held:
            yield frame
        while (got := await self._next()) is not None:
            yield got[1]
        if self.done:
            await self._drain()

    async def _drain(self) -> None:
        """Read the (empty) rest of the body after message_stop so the connection is reused."""
        if self._eof:
            return
        self._eof = True
        try:
            async with asyncio.timeout(1.0):
                async for _ in self._raw:
                    pass
        except (TimeoutError, httpx.HTTPError):
            pass

    async def aclose(self) -> None:
        try:
            await self._resp.aclose()
        except (httpx.HTTPError, OSError):
            log.debug("closing a broken upstream stream", exc_info=True)


def http_error(
    model: str, status: int, raw: bytes, headers: httpx.Headers | None = None
) -> UpstreamError:
    """An Anthropic error answer as the ArbiterError failover understands."""
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    text = (
        f"{model}: upstream answered {status}"
        + (f" {kind}" if kind else "")
        + (f": {message}" if message else "")
    )
    err: UpstreamError
    if status == 429 or kind == "rate_limit_error":
        err = UpstreamRateLimited(text)
    elif status in (408, 504) or kind == "timeout_error":
        err = UpstreamTimeout(text)
    elif status >= 500 or status in (401, 403) or kind == "overloaded_error":
        err = UpstreamUnavailable(
            text
        )  # 529 overloaded; 401/403: the operator's key, not the caller
    else:
        return UpstreamRejected(text, upstream_status=status, body=body)
    err.retry_after_s = retry_after(headers) if headers is not None else None
    return err
