"""OpenAI-protocol upstream over httpx: one pooled client, timeouts, errors classified by type.

It turns transport and HTTP failures into the ArbiterError tree; deciding whether to retry is
failover.py's job, not this module's.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import Any

import httpx
import orjson

from arbiter import __version__
from arbiter.canonical import Protocol
from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.errors import UpstreamError
from arbiter.protocols.openai_response import content_text, unfinished
from arbiter.types import ChatResult, Usage
from arbiter.upstream import embeddings_answer, lenient_json, sse_answer, whole_answer
from arbiter.upstream.http import (
    HTTPProvider,
    SSEStream,
    answer_and_bytes,
    forwarded_headers,
    json_object_read,
    reported_cost,
)
from arbiter.upstream.openai_errors import error_in_answer, foreign_event, http_error
from arbiter.upstream.stream_characters import SurrogateJoiner
from arbiter.upstream.usage_counts import (
    counted_zero,
    counts_believable,
    missing_sides,
    of_answer,
    token_count,
)
from arbiter.upstream.whole_answer import piece_chars
from arbiter.url_paths import with_path

_COUNTS = ("prompt_tokens", "completion_tokens")

# the `service_tier` values of OpenAI's priority processing (renamed Fast mode in 2026), billed
# at a multiple of the standard prices
FAST_TIERS = ("priority", "fast")
COMPLETIONS_PATH = "/completions"  # the legacy endpoint: its stream folds as chat's
EMBEDDINGS_PATH = "/embeddings"


def parse_usage(body: dict[str, Any], headers: httpx.Headers | None) -> Usage:
    """OpenAI counts the prompt's cached tokens inside `prompt_tokens`
    (`prompt_tokens_details.cached_tokens`): they are its cache reads, priced at the model's
    `price_cache_read_per_mtok` as an Anthropic upstream's are (they were billed at the input
    price), never more of them than the prompt."""
    usage = body.get("usage") or {}
    dropped = not isinstance(usage, dict) or not counts_believable(usage, _COUNTS)
    prompt_missing, output_missing = (
        (False, False) if dropped else missing_sides(usage, _COUNTS[:1], _COUNTS[1])
    )
    prompt = 0 if dropped else token_count(usage.get("prompt_tokens"))
    details = None if dropped else usage.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    output = 0 if dropped else token_count(usage.get("completion_tokens"))
    # the audio parts, priced at the model's audio prices (an audio model's usage gives them)
    heard = token_count(details.get("audio_tokens")) if isinstance(details, dict) else 0
    out_details = None if dropped else usage.get("completion_tokens_details")
    spoken = token_count(out_details.get("audio_tokens")) if isinstance(out_details, dict) else 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        reported_cost_usd=reported_cost(body, headers),
        cache_read_tokens=min(cached, prompt),
        audio_in_tokens=min(heard, prompt),
        audio_out_tokens=min(spoken, output),
        fast=body.get("service_tier") in FAST_TIERS,
        counts_dropped=dropped,
        prompt_missing=prompt_missing,
        output_missing=output_missing,
        output_zero=output_missing and counted_zero(usage, _COUNTS[1]),
    )


def choices_finished(data: dict[str, Any]) -> bool:
    """Every choice of a whole answer gave its finish reason (an answer with no `choices`, an
    embeddings list, has none to give): the answer ended, and what its usage lacks is counted
    from it (usage_counts.of_answer). A lenient server's null or "" says nothing."""
    choices = data.get("choices")
    return not isinstance(choices, list) or all(
        isinstance(c, dict) and isinstance(c.get("finish_reason"), str) and c["finish_reason"]
        for c in choices
    )


def _every_choice_finished(data: dict[str, Any], model: str) -> None:
    """A whole /v1/completions answer is held to chat's rule (protocols/openai_response.py's
    unfinished): a choice that ended on a word meaning no finished answer (vLLM's "abort",
    Mistral's "error", DeepSeek's "insufficient_system_resource") makes the answer an upstream
    failure, which fails over, instead of a 200 whose finish_reason no SDK names (its stream
    already failed so, in relay_codec.py)."""
    choices = data.get("choices")
    for one in choices if isinstance(choices, list) else ():
        if isinstance(one, dict) and (failure := unfinished(model, one.get("finish_reason"))):
            raise failure


class OpenAIUpstream(HTTPProvider):
    """POST {base_url}/chat/completions with a Bearer key; bodies and answers in OpenAI's format."""

    protocol: Protocol = "openai"

    def __init__(
        self,
        settings: UpstreamSettings,
        failover: FailoverSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"content-type": "application/json", "user-agent": f"arbiter/{__version__}"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        url = httpx.URL(with_path(settings.base_url, "/chat/completions"))
        super().__init__(settings, failover, url, headers, transport)
        self._base = settings.base_url
        self._endpoints: dict[str, httpx.URL] = {}

    def _http_error(
        self, model: str, status: int, raw: bytes, headers: httpx.Headers
    ) -> UpstreamError:
        return http_error(model, status, raw, headers)

    async def call_endpoint(
        self, path: str, body: dict[str, Any], model: ModelSettings
    ) -> tuple[dict[str, Any], bytes, httpx.Headers]:
        """POST a body to another endpoint of this upstream (`/embeddings`, `/completions`):
        the parsed JSON object (an embeddings answer's vectors as placeholders when large:
        embeddings_answer.read), the bytes to relay and the headers, with the same timeouts,
        size cap and error classification as chat. An event stream answering it (the request is
        never sent streaming here) is folded into the one completion it stands for, as chat's;
        embeddings have no stream form, so one there is a clear upstream error (502), not
        "malformed"."""
        limit = self.settings.max_embeddings_response_bytes if path == EMBEDDINGS_PATH else None
        payload = self._payload(body, model)
        raw, headers = await self._fetch(payload, model.name, self._url_of(path), limit)
        if sse_answer.is_event_stream(headers, raw):
            if path != COMPLETIONS_PATH:
                raise UpstreamError(
                    f"{model.name}: the upstream answered {path} with an event stream, which "
                    "that endpoint does not have (a JSON answer was expected)"
                )
            raw = await self._fold(raw, headers, model.name, body.get("n"))
        if path == EMBEDDINGS_PATH:  # its vectors are not parsed (embeddings_answer.read)
            data, raw = await embeddings_answer.read(raw, body, model.name)
        else:
            data, raw = answer_and_bytes(raw, model.name)
        if "error" in data:  # an error object at HTTP 200, as chat's (complete): never relayed
            raise error_in_answer(model.name, data, raw, headers)
        if path == COMPLETIONS_PATH:
            _every_choice_finished(data, model.name)
        return data, raw, headers

    def _url_of(self, path: str) -> httpx.URL:
        url = self._endpoints.get(path)
        if url is None:
            url = self._endpoints[path] = httpx.URL(with_path(self._base, path))
        return url

    def _payload(self, body: dict[str, Any], model: ModelSettings) -> bytes:
        return orjson.dumps({**body, "model": model.upstream_model})

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        started = time.perf_counter()
        raw, headers = await self._fetch(self._payload(body, model), model.name)
        if sse_answer.is_event_stream(headers, raw):  # streamed though not asked to
            raw = await self._fold(raw, headers, model.name, body.get("n"))
        try:
            data, exact = lenient_json.read(raw)
            if not exact:  # characters read as U+FFFD: relay the answer as read
                raw = orjson.dumps(data)
            if isinstance(data, dict) and "error" in data:  # an error object at HTTP 200
                raise error_in_answer(model.name, data, raw, headers)
            choice = data["choices"][0]
            raw_content = choice["message"].get("content")
            content = "" if raw_content is None else content_text(raw_content)
            finish = choice.get("finish_reason")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise UpstreamError(f"{model.name}: malformed answer from upstream") from err
        if not isinstance(data, dict) or not isinstance(content, str):
            raise UpstreamError(f"{model.name}: malformed answer from upstream")
        for one in data["choices"]:  # every choice finished, or no answer (it may be billed)
            if (failure := unfinished(model.name, one.get("finish_reason"))) is not None:
                raise failure
        return ChatResult(
            model=model.name,
            body=data,
            content=content,
            finish_reason=finish if isinstance(finish, str) else None,
            usage=of_answer(parse_usage(data, headers), choices_finished(data)),
            latency_ms=(time.perf_counter() - started) * 1000,
            raw=raw,
            protocol=self.protocol,
            upstream_headers=forwarded_headers(headers),
        )

    async def _fold(self, raw: bytes, headers: httpx.Headers, model: str, n: Any) -> bytes:
        """An event stream answering this non-streaming call, as the chat.completion it
        stands for (sse_answer.py: the stream path's reading and limits)."""
        resp = sse_answer.as_response(raw, headers)
        until = sse_answer.deadline(self._failover.total_timeout_s)
        stream = _OpenAIStream(model, resp, until, self.settings)
        stream.choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        return await sse_answer.folded(stream, sse_answer.OpenAIFold(model), model)

    async def open_stream(
        self,
        body: dict[str, Any],
        model: ModelSettings,
        *,
        deadline: float | None = None,
        path: str | None = None,
    ) -> _OpenAIStream:
        """`deadline` (time.monotonic()) is the request's: the whole stream ends by it. `path`:
        another endpoint than chat's whose stream is OpenAI SSE too (`/completions`)."""
        payload = {**body, "model": model.upstream_model, "stream": True}
        opts = dict(payload.get("stream_options") or {})
        opts["include_usage"] = True  # we need usage for cost even if the client did not ask
        payload["stream_options"] = opts
        url = None if path is None else self._url_of(path)
        resp, until = await self._open(orjson.dumps(payload), model.name, deadline, url)
        stream = _OpenAIStream(model.name, resp, until, self.settings)
        n = payload.get("n")
        stream.choices = n if isinstance(n, int) and n > 0 else 1
        await stream.prime()  # wait for the first content, so failures before it can fail over
        return stream


class _OpenAIStream(SSEStream):
    """Yields the `data:` payloads (without the prefix), `[DONE]` excluded; `done` turns True
    at `data: [DONE]`, or at the body's clean end once every choice sent its finish_reason
    (some OpenAI-compatible servers end without `[DONE]`; a cut stream still fails)."""

    protocol: Protocol = "openai"
    choices = 1  # the request's n: how many finish_reasons complete the answer
    _finished: frozenset[int] = frozenset()
    # usage sent while the answer was still coming (vLLM's continuous_usage_stats: a running
    # count on every chunk): the bill only once the answer finished, as Anthropic's
    # message_start counts are; a stream cut before that is charged its worst case
    _running: Usage | None = None

    def __init__(
        self, model: str, resp: httpx.Response, deadline: float, limits: UpstreamSettings
    ) -> None:
        super().__init__(model, resp, deadline, limits)
        self._data: list[bytes] = []  # the data lines of the event being read
        self._characters = SurrogateJoiner()  # a character cut in two across events
        self._ready: deque[bytes] = deque()  # events dispatched, to return before reading more
        self._failure: UpstreamError | None = None  # raised once the events before it are out

    def _pop_event(self) -> bytes | None:
        """The next event's `data:` payload among the lines already read (several data lines
        joined by LF, as SSE says), or None when no event is complete yet."""
        if self._ready:
            return self._ready.popleft()
        lines = self._lines
        while lines:
            line = lines.popleft()
            if line.startswith(b"data:"):
                if not self._data and lines and not lines[0]:
                    # the common event: one data line, then the blank line that ends it
                    lines.popleft()
                    if event := self._dispatch(line[5:].strip()):
                        return event
                    if self.done:
                        return self._ready.popleft() if self._ready else None
                    continue
                self._data.append(line[5:].strip())
                continue
            if line.strip() or not self._data:
                continue  # comments, event names; a blank line ends an event
            if event := self._dispatch(self._payload()):
                return event
            if self.done:
                return self._ready.popleft() if self._ready else None
        if self._eof and self._data:  # the body ended without the event's blank line
            return self._dispatch(self._payload())
        return None

    def _payload(self) -> bytes:
        """The event's data lines: one payload split over lines (SSE joins them with LF); or,
        when joined they are no JSON, one event per line (a server that leaves out the blank
        lines between events: the lines after the first are put back as events of their own)."""
        data, self._data = self._data, []
        if len(data) == 1:
            return data[0]
        joined = b"\n".join(data).strip()
        try:
            orjson.loads(joined)
            return joined
        except orjson.JSONDecodeError:
            self._lines.extendleft(line for d in reversed(data[1:]) for line in (b"", b"data:" + d))
            return data[0]

    def _dispatch(self, data: bytes) -> bytes | None:
        if not data:
            return None  # an empty `data:` (a heartbeat): SSE dispatches no event for it
        if data == b"[DONE]":
            self.done = True
            self._settle_usage()
            self._lines.clear()
            self._ready.extend(self._characters.end())  # halves left alone: U+FFFD, then the end
            return None
        data = self._characters.event(data)
        if b'"finish_reason"' in data:
            self._watch_finish(data)
        self._watch_usage(data)
        if self._characters.due:  # halves that lost their partner go out first, as U+FFFD
            due = self._characters.take_due()
            self._ready.extend(due[1:])
            self._ready.append(data)
            return due[0]
        return data

    async def _next_item(self) -> bytes | None:
        while (event := self._pop_event()) is None:
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
            if self._eof and self._all_finished():
                self.done = True  # ended cleanly after every choice finished: no [DONE] sent
                self._settle_usage()
            if self.done or self._eof:
                if self._characters.holding:  # the body ended on a half: U+FFFD
                    self._ready.extend(self._characters.end())
                    continue
                return None
            try:
                await self._read()
            except UpstreamError as err:
                if not self._characters.holding:
                    raise
                self._ready.extend(self._characters.end())  # the text before the failure whole
                self._failure = err
        return event

    def _watch_finish(self, raw: bytes) -> None:
        """Note the choices that finished (most chunks say `"finish_reason":null`: not parsed)."""
        if b'"finish_reason":null' in raw or b'"finish_reason": null' in raw:
            return
        try:
            chunk = lenient_json.loads(raw)
        except orjson.JSONDecodeError:
            return
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for c in choices if isinstance(choices, list) else ():
            if isinstance(c, dict) and c.get("finish_reason"):  # "" (Ollama, SGLang): none
                index = c.get("index", 0)
                self._finished = self._finished | {index if isinstance(index, int) else 0}

    def _opening(self, item: bytes) -> bool:
        return _opening_only(item, self._model)

    def _whole_answer(self, raw: bytes) -> bytes:
        return whole_answer.openai_events(raw, self._model, piece_chars(self._max_line))

    def _watch_usage(self, raw: bytes) -> None:
        if b'"usage"' not in raw:
            return
        try:
            chunk = lenient_json.loads(raw)
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
            self._running = dataclasses.replace(parsed, reported_cost_usd=cost)
            self.running_usage = self._running
            # include_usage's own chunk (no choices), or one sent once every choice finished:
            # nothing more can be generated, so the count is the bill
            choices = chunk.get("choices")
            if not choices or self._all_finished():
                self.usage = of_answer(self._running, self._all_finished())

    def _all_finished(self) -> bool:
        return len(self._finished) >= self.choices

    def _settle_usage(self) -> None:
        """The answer ended properly: the last count it sent is the bill. With none at all
        (`stream_options.include_usage` ignored, or a server that never counts), a stream
        whose every choice finished is a whole answer, counted from what it relayed as a
        whole one is (usage_counts.of_answer); one without its finish reasons, its worst case."""
        if self._running is not None:
            self.usage = of_answer(self._running, self._all_finished())
        elif self._all_finished():
            self.usage = Usage(
                reported_cost_usd=self._reported_cost, prompt_missing=True, output_missing=True
            )


def _opening_only(raw: bytes, model: str) -> bool:
    """True for a chunk with nothing to show (role, empty content); raises UpstreamError for a
    chunk that is not valid JSON or is an error, so such a start fails over."""
    chunk = parse_chunk(raw, model)
    choices = chunk.get("choices")
    if chunk.get("usage") is not None or not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict) or choice.get("finish_reason"):
            return False
        if any(v not in (None, "", [], {}) for k, v in delta.items() if k != "role"):
            return False
    return True


def parse_chunk(raw: bytes, model: str) -> dict[str, Any]:
    """One SSE chunk as JSON; garbage or an upstream error event raises UpstreamError."""
    return read_chunk(raw, model)[0]


def read_chunk(raw: bytes, model: str) -> tuple[dict[str, Any], bool]:
    """parse_chunk, and whether `raw` was read as it came (lenient_json.read: not when it held
    a number that is no finite number, `"cost": NaN`, which is then no text to relay)."""
    try:  # most chunks: JSON orjson reads as it came (lenient_json.read's first step, inline)
        chunk, exact = orjson.loads(raw), True
    except orjson.JSONDecodeError:
        chunk, exact = json_object_read(raw, model, "chunk in the stream")
    if type(chunk) is not dict:
        chunk, exact = json_object_read(raw, model, "chunk in the stream")  # raises: no object
    if "error" in chunk:  # classified as the same error answered with its HTTP status
        raise error_in_answer(model, chunk, raw)
    if (foreign := foreign_event(model, chunk)) is not None:
        raise foreign
    return chunk, exact
