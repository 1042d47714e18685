"""OpenAI-protocol upstream over httpx: one pooled client, timeouts, errors classified by type.

It turns transport and HTTP failures into the ArbiterError tree; deciding whether to retry is
failover.py's job, not this module's.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NoReturn

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
from arbiter.types import ChatResult, Usage
from arbiter.upstream.transport import H1Transport

log = logging.getLogger(__name__)
_COST_HEADERS = ("x-upstream-cost-usd", "x-cost-usd", "x-openrouter-cost")


def reported_cost(body: dict[str, Any] | None, headers: httpx.Headers | None) -> float | None:
    """The upstream's own cost telemetry: `usage.cost` in the body, or a cost header."""
    usage = (body or {}).get("usage") or {}
    cost = usage.get("cost") if isinstance(usage, dict) else None
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    for name in _COST_HEADERS:
        value = headers.get(name) if headers is not None else None
        if value:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return None


def parse_usage(body: dict[str, Any], headers: httpx.Headers | None) -> Usage:
    usage = body.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    pt, ct = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return Usage(
        prompt_tokens=pt if isinstance(pt, int) else 0,
        completion_tokens=ct if isinstance(ct, int) else 0,
        reported_cost_usd=reported_cost(body, headers),
    )


class OpenAIUpstream:
    """Calls go straight to the httpx transport with a prebuilt URL and headers: the client's
    per-request layers (URL merging, auth and redirect flows, cookies) cost more than the
    transport itself and do nothing for a fixed upstream (bench/results/overhead.profile.md)."""

    def __init__(
        self,
        settings: UpstreamSettings,
        failover: FailoverSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._failover = failover
        headers = {"content-type": "application/json", "user-agent": f"arbiter/{__version__}"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        url = httpx.URL(settings.base_url.rstrip("/") + "/chat/completions")
        headers["host"] = url.netloc.decode("ascii")
        self._url = url
        self._headers = httpx.Headers(headers)
        self._transport = transport or H1Transport(max_connections_per_origin=512)
        connect = failover.connect_timeout_s
        self._stream_timeout = {
            "connect": connect, "read": failover.first_byte_timeout_s, "write": connect,
            "pool": connect,
        }  # fmt: skip
        # A non-streaming answer's first byte comes with its last: only the total timeout
        # bounds it (first_byte_timeout_s would cut long, healthy answers short).
        self._complete_timeout = {**self._stream_timeout, "read": failover.total_timeout_s}

    async def _post(self, payload: bytes, timeouts: dict[str, float]) -> httpx.Response:
        request = httpx.Request(
            "POST", self._url, headers=self._headers, content=payload,
            extensions={"timeout": timeouts},
        )  # fmt: skip
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _payload(self, body: dict[str, Any], model: ModelSettings) -> bytes:
        return orjson.dumps({**body, "model": model.upstream_model})

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._failover.total_timeout_s):
                resp = await self._post(self._payload(body, model), self._complete_timeout)
                try:
                    raw = await _read_at_most(resp, self.settings.max_response_bytes)
                finally:
                    await resp.aclose()  # a no-op once read; else the connection is dropped
        except TimeoutError as err:
            raise UpstreamTimeout(
                f"{model.name}: no complete answer within the total timeout"
            ) from err
        except httpx.HTTPError as err:
            raise transport_error(model.name, err) from err
        if raw is None:
            limit = self.settings.max_response_bytes
            raise UpstreamError(f"{model.name}: the answer is larger than {limit} bytes")
        if resp.status_code >= 400:
            raise _http_error(model.name, resp.status_code, raw, resp.headers)
        try:
            data = orjson.loads(raw)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            finish = choice.get("finish_reason")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise UpstreamError(f"{model.name}: malformed answer from upstream") from err
        if not isinstance(data, dict) or not isinstance(content, str):
            raise UpstreamError(f"{model.name}: malformed answer from upstream")
        return ChatResult(
            model=model.name,
            body=data,
            content=content,
            finish_reason=finish if isinstance(finish, str) else None,
            usage=parse_usage(data, resp.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
            raw=raw,
        )

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> _OpenAIStream:
        """`deadline` (time.monotonic()) is the request's: the whole stream ends by it."""
        payload = {**body, "model": model.upstream_model, "stream": True}
        opts = dict(payload.get("stream_options") or {})
        opts["include_usage"] = True  # we need usage for cost even if the client did not ask
        payload["stream_options"] = opts
        started = time.monotonic()
        try:
            resp = await self._post(orjson.dumps(payload), self._stream_timeout)
        except httpx.HTTPError as err:
            raise transport_error(model.name, err) from err
        if resp.status_code >= 400:
            try:
                raw = await _read_at_most(resp, self.settings.max_event_bytes) or b""
            except httpx.HTTPError:
                raw = b""
            finally:
                await resp.aclose()
            raise _http_error(model.name, resp.status_code, raw, resp.headers)
        own = started + self._failover.total_timeout_s
        stream = _OpenAIStream(
            model.name, resp, own if deadline is None else min(own, deadline), self.settings
        )
        await stream.prime()  # wait for the first content, so failures before it can fail over
        return stream


_MAX_HELD = 4  # content-free opening events held back while waiting for the first real one


async def _read_at_most(resp: httpx.Response, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is larger than `limit` bytes (read no further)."""
    declared = resp.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    pieces: list[bytes] = []
    size = 0
    async for piece in resp.aiter_bytes():
        size += len(piece)
        if size > limit:
            return None
        pieces.append(piece)
    return b"".join(pieces)


class _OpenAIStream:
    """One streaming answer. Each network read waits at most the read timeout (first byte, then
    between reads); the whole answer at most until `deadline` (the earlier of the attempt's start
    + total timeout and the request's deadline). SSE lines are split from the raw bytes: no text
    decoding, and no timer for an event that is already buffered. One line may have at most
    `max_event_bytes`, the whole stream `max_response_bytes`."""

    def __init__(
        self, model: str, resp: httpx.Response, deadline: float, limits: UpstreamSettings
    ) -> None:
        self._model = model
        self._resp = resp
        self._raw = resp.aiter_raw()
        self._lines: deque[bytes] = deque()
        # the unfinished last line, in pieces: joined once, when its newline comes (a long
        # line grown by `+=` per read would be copied over and over: quadratic)
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._max_line = limits.max_event_bytes
        self._left = limits.max_response_bytes  # bytes the rest of the stream may have
        self._eof = False
        self._held: list[bytes] = []
        self._deadline = deadline
        self.usage: Usage | None = None
        self.done = False
        self._reported_cost = reported_cost(None, resp.headers)

    def _pop_event(self) -> bytes | None:
        """The next `data:` payload among the lines already read, or None when there is none."""
        lines = self._lines
        while lines:
            line = lines.popleft()
            if not line.startswith(b"data:"):
                continue  # comments, event names, blank separators
            data = line[5:].strip()
            if data == b"[DONE]":
                self.done = True
                lines.clear()
                return None
            self._watch_usage(data)
            return data
        return None

    async def _read(self) -> None:
        """Read the next piece of the body into complete lines (at the end, into `_eof`)."""
        try:
            async with asyncio.timeout(max(self._deadline - time.monotonic(), 0.0)):
                piece = await self._raw.__anext__()
        except StopAsyncIteration:
            self._eof = True
            if self._partial:
                self._lines.append(b"".join(self._partial))
                self._partial = []
            return
        except TimeoutError as err:
            raise UpstreamTimeout(
                f"{self._model}: the answer did not finish within the total timeout "
                "or the request deadline"
            ) from err
        except httpx.HTTPError as err:
            raise transport_error(self._model, err, "mid-stream") from err
        self._left -= len(piece)
        if self._left < 0:
            raise UpstreamError(f"{self._model}: the stream is larger than the response limit")
        self._split(piece)

    def _split(self, piece: bytes) -> None:
        """Add `piece` to the complete lines and keep its unfinished end; an over-long line
        fails the stream (checked without rescanning what was already read)."""
        lines = piece.split(b"\n")
        rest = lines.pop()
        if lines:
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
            self._partial, self._partial_size = [], 0
            # lines after the first are parts of this piece: only a long piece can hold a long one
            longest = len(lines[0]) if len(piece) <= self._max_line else max(map(len, lines))
            if longest > self._max_line:
                self._too_long()
            self._lines.extend(lines)
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
            if self._partial_size > self._max_line:
                self._too_long()

    def _too_long(self) -> NoReturn:
        raise UpstreamError(
            f"{self._model}: an event in the stream is longer than {self._max_line} bytes"
        )

    async def _next_event(self) -> bytes | None:
        while (event := self._pop_event()) is None:
            if self.done:
                await self._drain()
                return None
            if self._eof:
                return None
            await self._read()
        return event

    async def _drain(self) -> None:
        """Read the (empty) rest of the body after [DONE], so the connection is reused rather
        than dropped by aclose() on an unfinished response."""
        if self._eof:
            return
        self._eof = True
        try:
            async with asyncio.timeout(1.0):
                async for _ in self._raw:
                    pass
        except (TimeoutError, httpx.HTTPError):
            pass

    def _watch_usage(self, raw: bytes) -> None:
        if b'"usage"' not in raw:
            return
        try:
            chunk = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        usage = chunk.get("usage") if isinstance(chunk, dict) else None
        if isinstance(usage, dict):
            parsed = parse_usage(chunk, None)
            cost = (
                parsed.reported_cost_usd
                if parsed.reported_cost_usd is not None
                else self._reported_cost
            )
            self.usage = Usage(parsed.prompt_tokens, parsed.completion_tokens, cost)

    async def prime(self) -> None:
        """Read up to the first event that carries content. The opening role-only chunk is held
        back (it has nothing to show), so an upstream that dies, stalls or sends garbage before
        its first token fails before any byte reached the client, and failover can still act."""
        try:
            while True:
                event = await self._next_event()
                if event is None:
                    raise UpstreamError(f"{self._model}: stream ended before any content")
                if _opening_only(event, self._model) and len(self._held) < _MAX_HELD:
                    self._held.append(event)
                    continue
                self._held.append(event)
                return
        except BaseException:
            await self.aclose()
            raise

    async def events(self) -> AsyncIterator[bytes]:
        held, self._held = self._held, []
        for opening in held:
            yield opening
        while (event := await self._next_event()) is not None:
            yield event

    async def aclose(self) -> None:
        """Close the response; on an unfinished body this drops the connection, which is how
        the upstream learns to stop. A connection that is already broken is not an error."""
        try:
            await self._resp.aclose()
        except (httpx.HTTPError, OSError):
            log.debug("closing a broken upstream stream", exc_info=True)


def _opening_only(raw: bytes, model: str) -> bool:
    """True for a chunk with nothing to show (role, empty content); raises UpstreamError for a
    chunk that is not valid JSON or is an error, so such a start fails over."""
    chunk = parse_chunk(raw, model)
    choices = chunk.get("choices")
    if chunk.get("usage") is not None or not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict) or choice.get("finish_reason") is not None:
            return False
        if any(v not in (None, "", [], {}) for k, v in delta.items() if k != "role"):
            return False
    return True


def transport_error(model: str, err: httpx.HTTPError, where: str = "") -> UpstreamError:
    """The one mapping of a connection-level failure: a timeout, or the upstream unreachable.
    The exception's text (upstream host, port) goes to the log, not to the client."""
    at = f" {where}" if where else ""
    if isinstance(err, httpx.TimeoutException):
        return UpstreamTimeout(f"{model}: timed out{at} ({type(err).__name__})")
    log.warning("upstream %s: connection failed%s: %s: %s", model, at, type(err).__name__, err)
    return UpstreamUnavailable(f"{model}: connection failed{at} ({type(err).__name__})")


def parse_chunk(raw: bytes, model: str) -> dict[str, Any]:
    """One SSE chunk as JSON; garbage or an upstream error event raises UpstreamError."""
    try:
        chunk = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise UpstreamError(f"{model}: malformed chunk in the stream") from err
    if not isinstance(chunk, dict) or "error" in chunk:
        raise UpstreamError(f"{model}: the upstream reported an error in the stream")
    return chunk


# What an upstream status means, in words we choose: the upstream's own error text never reaches
# a client (it can quote the operator's key, hosts or account details); only the log keeps it.
_STATUS_WORDS = {
    400: "bad request", 401: "authentication failed", 402: "payment required",
    403: "permission denied", 404: "not found", 408: "timeout", 409: "conflict",
    413: "request too large", 415: "unsupported media type", 422: "unprocessable request",
    429: "rate limited",
}  # fmt: skip
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.\[\]-]{1,64}")  # an upstream error code or param we may echo
_LOGGED_CHARS = 2000


def safe_message(model: str, status: int) -> str:
    words = _STATUS_WORDS.get(status) or ("server error" if status >= 500 else "error")
    return f"upstream {model} returned HTTP {status} ({words})"


def _http_error(
    model: str, status: int, raw: bytes, headers: httpx.Headers | None = None
) -> UpstreamError:
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    log.warning(
        "upstream %s answered HTTP %d: %s",
        model, status, raw[:_LOGGED_CHARS].decode("utf-8", "replace"),
    )  # fmt: skip
    text = safe_message(model, status)
    code = error.get("code")
    if isinstance(code, str) and _SAFE_CODE.fullmatch(code):
        text += f": {code}"  # a machine code (context_length_exceeded) helps; prose may leak
    err: UpstreamError
    if status == 429:
        err = UpstreamRateLimited(text)
    elif status in (408, 504):
        err = UpstreamTimeout(text)
    elif status >= 500 or status in (401, 403):
        # 401/403 are the operator's credentials at fault, not the caller's: another model may work
        err = UpstreamUnavailable(text)
    else:
        param = error.get("param")
        rejected = UpstreamRejected(text, upstream_status=status, body=body)
        rejected.param = param if isinstance(param, str) and _SAFE_CODE.fullmatch(param) else None
        return rejected
    err.retry_after_s = retry_after(headers) if headers is not None else None
    return err


def retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the upstream asked us to wait: `retry-after-ms`, else `Retry-After` as seconds
    or an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
