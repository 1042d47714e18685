"""Anthropic-protocol upstream (POST {base_url}/v1/messages) on the same transport, timeouts,
size limits, deadline and safe error text as upstream/openai.py (all in upstream/http.py).

It speaks Anthropic bodies only: the caller passes an Anthropic Messages body (a client's,
relayed, or one built by protocols.anthropic.encode_request) and gets Anthropic bytes back.
Errors: 429 (whatever its body's type) / `rate_limit_error` -> UpstreamRateLimited (with
Retry-After), 529 / `overloaded_error` and other 5xx -> UpstreamUnavailable, so failover treats
them as it treats OpenAI's. Deciding whether to retry stays failover.py's job.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import httpx
import orjson

from arbiter import __version__
from arbiter.canonical import Protocol
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
from arbiter.upstream import lenient_json, sse_answer, whole_answer
from arbiter.upstream.http import (
    HTTPProvider,
    SSEStream,
    answer_and_bytes,
    forwarded_headers,
    log_upstream_text,
    reported_cost,
    retryable_error,
    safe_error_text,
)
from arbiter.upstream.stream_characters import SurrogateJoiner
from arbiter.upstream.usage_counts import (
    counted_zero,
    counts_believable,
    missing_sides,
    of_answer,
    token_count,
)
from arbiter.upstream.whole_answer import piece_chars
from arbiter.url_paths import path_of, with_path

API_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    """Anthropic's base URL has no /v1 (the SDK appends /v1/messages); accept one with it too."""
    return with_path(base_url, "/messages" if path_of(base_url).endswith("/v1") else "/v1/messages")


_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def parse_usage(usage: Any, cost: float | None = None) -> Usage:
    """Anthropic's `input_tokens` excludes cache reads and writes; Usage.prompt_tokens is all
    input, with the cached parts also given on their own. A usage with cache counts and no
    `input_tokens` counted its input (the cache counts are input: none uncached)."""
    dropped = usage is not None and not (
        isinstance(usage, dict) and counts_believable(usage, _COUNTS)
    )
    u = {} if dropped or usage is None else usage

    def count(key: str) -> int:
        return token_count(u.get(key))

    read, write = count("cache_read_input_tokens"), count("cache_creation_input_tokens")
    # the writes' split by cache: the 1-hour cache's billed 2x the input price, not 1.25x
    split = u.get("cache_creation")
    hour = (
        min(token_count(split.get("ephemeral_1h_input_tokens")), write)
        if isinstance(split, dict)
        else 0
    )
    prompt_missing, output_missing = (
        (False, False) if dropped else missing_sides(u, _COUNTS[:1] + _COUNTS[2:], _COUNTS[1])
    )
    # the server tools it ran: web searches are billed per search ($10 per 1,000)
    tools = u.get("server_tool_use")
    tools = tools if isinstance(tools, dict) else {}
    searches = token_count(tools.get("web_search_requests"))
    ran = tools.get("code_execution_requests")  # a gateway's count; Anthropic's usage has none
    return Usage(
        prompt_tokens=count("input_tokens") + read + write,
        completion_tokens=count("output_tokens"),
        reported_cost_usd=cost,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=hour,
        web_searches=searches,
        web_fetches=token_count(tools.get("web_fetch_requests")),
        code_executions=None if ran is None else token_count(ran),
        fast=u.get("speed") == "fast",  # fast mode ran (a request asking it may fall back)
        counts_dropped=dropped,
        prompt_missing=prompt_missing,
        output_missing=output_missing,
        output_zero=output_missing and counted_zero(u, _COUNTS[1]),
    )


def _stopped(stop_reason: Any) -> bool:
    """A whole Message that gave its stop reason ended (usage_counts.of_answer)."""
    return isinstance(stop_reason, str) and bool(stop_reason)


class AnthropicUpstream(HTTPProvider):
    """POST {base_url}/v1/messages with `x-api-key` and `anthropic-version`."""

    protocol: Protocol = "anthropic"

    def __init__(
        self,
        settings: UpstreamSettings,
        failover: FailoverSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {
            "content-type": "application/json", "user-agent": f"arbiter/{__version__}",
            "anthropic-version": API_VERSION,
        }  # fmt: skip
        if settings.api_key:
            headers["x-api-key"] = settings.api_key
        url = httpx.URL(messages_url(settings.base_url))
        super().__init__(settings, failover, url, headers, transport)

    def _http_error(
        self, model: str, status: int, raw: bytes, headers: httpx.Headers
    ) -> UpstreamError:
        return http_error(model, status, raw, headers)

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        started = time.perf_counter()
        payload = {**body, "model": model.upstream_model or model.name}
        payload.pop("stream", None)
        raw, headers = await self._fetch(orjson.dumps(payload), model.name)
        if sse_answer.is_event_stream(headers, raw):  # streamed though not asked to
            raw = await self._fold(raw, headers, model.name)
        data, raw = answer_and_bytes(raw, model.name)
        if not isinstance(data.get("content"), list):
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
            # `usage.cost` (a gateway speaking Anthropic's API may send one), else a cost
            # header: read as OpenAI's is, and vetted the same way (cost_report.vetted)
            usage=of_answer(
                parse_usage(data.get("usage"), reported_cost(data, headers)),
                _stopped(data.get("stop_reason")),
            ),
            latency_ms=(time.perf_counter() - started) * 1000,
            raw=raw,
            protocol=self.protocol,
            upstream_headers=forwarded_headers(headers),
        )

    async def _fold(self, raw: bytes, headers: httpx.Headers, model: str) -> bytes:
        """An event stream answering this non-streaming call, as the Message it stands for
        (sse_answer.py: the stream path's reading and limits)."""
        resp = sse_answer.as_response(raw, headers)
        until = sse_answer.deadline(self._failover.total_timeout_s)
        stream = AnthropicStream(model, resp, until, self.settings)
        return await sse_answer.folded(stream, sse_answer.AnthropicFold(model), model)

    async def open_stream(
        self, body: dict[str, Any], model: ModelSettings, *, deadline: float | None = None
    ) -> AnthropicStream:
        """`deadline` (time.monotonic()) is the request's: the whole stream ends by it."""
        payload = {**body, "model": model.upstream_model or model.name, "stream": True}
        resp, until = await self._open(orjson.dumps(payload), model.name, deadline)
        stream = AnthropicStream(model.name, resp, until, self.settings)
        await stream.prime()  # wait for the first content, so failures before it can fail over
        return stream


_OPENING = frozenset({b"message_start", b"ping"})


class AnthropicStream(SSEStream):
    """events() yields whole SSE frames (`event: X\ndata: {...}\n\n`), which an Anthropic
    client can be sent unchanged and protocols.anthropic.StreamDecoder reads. Every event's
    JSON is checked (a malformed one raises UpstreamError), an `error` event raises the
    matching UpstreamError, and `done` turns True only at message_stop. A frame, like a line,
    may have at most `max_event_bytes`."""

    protocol: Protocol = "anthropic"

    def __init__(
        self, model: str, resp: httpx.Response, deadline: float, limits: UpstreamSettings
    ) -> None:
        super().__init__(model, resp, deadline, limits)
        self._frame: list[bytes] = []
        self._frame_size = 0
        self._kind = b""  # the type of the last event returned
        self._start_usage: dict[str, Any] = {}
        self._delta_usage: dict[str, Any] = {}  # the last message_delta's counts given
        self._characters = SurrogateJoiner()  # a character cut in two across text deltas
        self._ready: deque[bytes] = deque()  # frames checked, to return before reading more
        self._failure: UpstreamError | None = None  # raised once the frames before it are out

    def _pop_frame(self) -> bytes | None:
        """The next complete frame among the lines read so far (a blank line ends a frame; at
        the end of the body, so does the end)."""
        while self._lines:
            line = self._lines.popleft().rstrip(b"\r")
            if line:
                self._frame.append(line)
                self._frame_size += len(line) + 1
                if self._frame_size > self._max_line:
                    self._too_long()
            elif self._frame:
                return self._end_frame()
        return self._end_frame() if self._eof and self._frame else None

    def _end_frame(self) -> bytes:
        frame, self._frame, self._frame_size = self._frame, [], 0
        return b"\n".join(frame) + b"\n\n"

    async def _next_item(self) -> bytes | None:
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self.done:
                return None
            try:
                frame = self._pop_frame()
                if frame is None:
                    if not self._eof:
                        await self._read()
                    elif self._characters.holding:  # the body ended on a half: U+FFFD
                        self._queue(self._characters.end())
                    else:
                        return None
                    continue
                frame_out = self._checked(frame)
            except UpstreamError as err:
                self._queue(self._characters.end())  # the text before the failure, whole
                if not self._ready:
                    raise
                self._failure = err
                continue
            if frame_out is not None:
                if not self._ready:
                    return frame_out
                self._ready.append(frame_out)  # after the U+FFFD frames it queued

    def _checked(self, frame: bytes) -> bytes | None:
        """The frame to relay for `frame` (None for none), its characters put right
        (stream_characters) and its event's name first; the frames of halves that lost their
        partner are queued before it."""
        data = [line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:")]
        if not any(data):
            return None  # a comment-only frame, or an empty `data:` (SSE dispatches neither)
        payload = b"\n".join(data)
        relayed = self._characters.event(payload)
        if self._characters.due:
            self._queue(self._characters.take_due())
        kind, written = self._check(relayed)
        self._kind = kind
        if written is not None:  # `"cost": NaN` read (lenient_json): no text to relay as it is
            relayed = written
        if relayed is not payload:
            return b"event: " + kind + b"\ndata: " + relayed + b"\n\n"
        if not frame.startswith(b"event:"):  # the SDKs dispatch on the event's name
            return b"event: " + kind + b"\n" + frame
        return frame

    def _queue(self, payloads: list[bytes]) -> None:
        for payload in payloads:  # text deltas alone (stream_characters): `type` is theirs
            kind = str(orjson.loads(payload).get("type", "")).encode()
            self._ready.append(b"event: " + kind + b"\ndata: " + payload + b"\n\n")

    def _opening(self, item: bytes) -> bool:
        """message_start, pings and an empty text block start have nothing to show. A
        message_stop before anything else (no content, no stop reason) is no answer: it fails
        before any byte reached the client, so failover acts (as on an OpenAI `[DONE]` alone),
        where it was relayed and the client's stream ended in an error event."""
        if self._kind == b"message_stop":
            raise UpstreamError(f"{self._model}: stream ended before any content")
        return self._kind in _OPENING or (
            self._kind == b"content_block_start" and b'"text":""' in item.replace(b" ", b"")
        )

    def _whole_answer(self, raw: bytes) -> bytes:
        return whole_answer.anthropic_events(raw, self._model, piece_chars(self._max_line))

    def _final_usage(self) -> Usage:
        """The answer's usage as far as its events gave it: message_start's counts but its
        output placeholder, under the last message_delta's; a `usage.cost` in them first, as
        OpenAI's stream reads its chunk's, else the cost header."""
        start = {k: v for k, v in self._start_usage.items() if k != "output_tokens"}
        merged = {**start, **self._delta_usage}
        cost = reported_cost({"usage": merged}, None)
        return parse_usage(merged, self._reported_cost if cost is None else cost)

    def _check(self, payload: bytes) -> tuple[bytes, bytes | None]:
        """The event's type, and the payload written anew when it was not read as it came (a
        number that is no finite number, `"usage": {"cost": NaN}`: a client's parser may refuse
        it; orjson writes it as null, as the OpenAI stream path does); its usage and end noted.
        An error event, or a payload that is no event, raises UpstreamError."""
        try:
            event, exact = lenient_json.read(payload)
        except orjson.JSONDecodeError as err:
            raise UpstreamError(f"{self._model}: malformed event in the stream") from err
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str):
            raise UpstreamError(f"{self._model}: malformed event in the stream")
        if kind == "error":
            raise event_error(self._model, event.get("error"), payload)
        if kind == "message_start":
            # not the usage yet: its output count is a placeholder, the bill comes in
            # message_delta; a stream that breaks before it is priced at its worst case
            message = event.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            self._start_usage = usage if isinstance(usage, dict) else {}
            self.running_usage = parse_usage(self._start_usage, None)
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            # delta counts are cumulative; input counts only when the upstream repeats them
            self._delta_usage = {k: v for k, v in event["usage"].items() if v is not None}
            usage = self._final_usage()
            # the bill, once it counts both sides (or says its cost); a side missing (no final
            # output count, no input count anywhere) is counted at message_stop, when the
            # answer is known whole; a stream cut before it keeps its worst case
            if not usage.one_sided or usage.reported_cost_usd is not None:
                self.usage = usage
        elif kind == "message_stop":
            self.done = True
            # ended properly with a side uncounted (no final output count: message_start's 1
            # is a placeholder; no input count; no usage at all): a whole answer, whose missing
            # side Arbiter counts from what it relayed, as a whole Message's (dropped_usage.py)
            if self.usage is None:
                self.usage = self._final_usage()
        return kind.encode(), None if exact else orjson.dumps(event)


# what an Anthropic error's type says, whatever the status
_BY_TYPE: dict[str, type[UpstreamError]] = {
    "rate_limit_error": UpstreamRateLimited,
    "timeout_error": UpstreamTimeout,
    "overloaded_error": UpstreamUnavailable,  # also sent as HTTP 529
}


def http_error(
    model: str, status: int, raw: bytes, headers: httpx.Headers | None = None
) -> UpstreamError:
    """An Anthropic error answer as the ArbiterError failover understands, in words safe to
    show a client: the status, and the error's type when it is an identifier."""
    try:
        body: Any = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    text = safe_error_text(model, status, raw, kind)
    # the type refines a status that does not say itself, never a 429: that status means the
    # call was refused before any work (rate-limited, never billed) whatever the body calls it
    # (a proxy's 429 `overloaded_error`); failover moves on to the next model either way
    by_type = _BY_TYPE.get(kind) if isinstance(kind, str) and status != 429 else None
    return retryable_error(status, text, headers, by_type) or UpstreamRejected(
        text, upstream_status=status, body=body
    )


def event_error(model: str, error: Any, frame: bytes) -> UpstreamError:
    """An `error` event in a stream, classified like an error answer (an invalid_request_error
    is the caller's 400, not a retried 502); its message (which can quote keys or hosts) goes
    to the operator log only."""
    log_upstream_text(model, "sent an error event", frame)
    return upstream_error(model, error)  # the one classification of an error at HTTP 200
