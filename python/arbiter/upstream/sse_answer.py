"""An event stream answering a non-streaming request, folded into the one answer it stands for
(the mirror of whole_answer.py).

Some OpenAI-compatible servers (and proxies in front of Anthropic ones) stream whatever the
request said. The client asked for one answer: when the stream is complete and well formed
(OpenAI: `[DONE]`, or every choice finished; Anthropic: `message_stop`) it is read by the
protocol's own stream class, with the stream path's limits (the event size, the response size
already capped by the read, the linear line splitter, errors in the stream raised as the stream
path raises them) and folded into a chat.completion or a Message body. A stream that breaks
off, or holds an event that is no JSON object, stays a malformed answer (502).

Text and tool-argument pieces are gathered in lists and joined once (linear in the answer).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx
import orjson

from arbiter.errors import UpstreamError
from arbiter.upstream import lenient_json
from arbiter.upstream.http import SSEStream, is_json, json_object
from arbiter.upstream.openai_errors import error_in_answer, foreign_event

MAX_CHOICES = 128  # the spec's maximum `n` (surfaces/openai_chat.py refuses more)
# headers of the wire body: the folded bytes are already decoded and measured
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def is_event_stream(headers: httpx.Headers, raw: bytes) -> bool:
    """An SSE body: `text/event-stream`, or (no JSON type said) text whose first line is an
    SSE field (a JSON answer never starts so)."""
    media = str(headers.get("content-type", "")).partition(";")[0].strip().lower()
    if media == "text/event-stream":
        return True
    if is_json(headers):
        return False
    head = raw[:16].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith((b"data:", b"event:", b":"))


def as_response(raw: bytes, headers: httpx.Headers) -> httpx.Response:
    """The read body as a response the stream classes can read again (no network left)."""
    kept = [(k, v) for k, v in headers.multi_items() if k.lower() not in _BODY_HEADERS]
    return httpx.Response(200, headers=kept, stream=httpx.ByteStream(raw))


class _Fold(Protocol):
    def take(self, item: bytes) -> None: ...

    def body(self) -> dict[str, Any]: ...


async def folded(stream: SSEStream, fold: _Fold, model: str) -> bytes:
    """The stream's events folded into one answer's JSON bytes; UpstreamError when the stream
    is not a complete answer (or the stream class found it malformed or an error)."""
    try:
        await stream.prime()
        async for item in stream.events():
            fold.take(item)
    finally:
        await stream.aclose()
    if not stream.done:
        raise UpstreamError(f"{model}: malformed answer from upstream (its stream ended early)")
    try:
        return orjson.dumps(fold.body())
    except orjson.JSONEncodeError as err:  # nested past what orjson writes
        raise UpstreamError(f"{model}: malformed answer from upstream") from err


def deadline(total_timeout_s: float) -> float:
    """The folded stream's own deadline: the body is in memory, only the parsing is left."""
    return time.monotonic() + total_timeout_s


# -- OpenAI ---------------------------------------------------------------------------------


class _Choice:
    __slots__ = ("calls", "finish", "legacy", "reasoning", "refusal", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}  # tool call index -> id, name, pieces
        self.finish: str | None = None
        self.legacy = False  # a /v1/completions choice (`text`, no delta)

    def take(self, choice: dict[str, Any], model: str) -> None:
        if isinstance(choice.get("text"), str):
            self.legacy = True
            self.text.append(choice["text"])
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key, into in (
                ("content", self.text), ("refusal", self.refusal),
                ("reasoning_content", self.reasoning),
            ):  # fmt: skip
                if isinstance(delta.get(key), str):
                    into.append(delta[key])
            calls = delta.get("tool_calls")
            for place, call in enumerate(calls if isinstance(calls, list) else ()):
                self._call(call, place, model)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self.finish = reason

    def _call(self, call: Any, place: int, model: str) -> None:
        if not isinstance(call, dict):
            raise UpstreamError(f"{model}: malformed chunk in the stream")
        index = call.get("index", place)
        if not isinstance(index, int) or isinstance(index, bool):
            raise UpstreamError(f"{model}: malformed chunk in the stream")
        held = self.calls.setdefault(index, {"id": None, "name": [], "arguments": []})
        if isinstance(call.get("id"), str) and call["id"]:
            held["id"] = call["id"]
        function = call.get("function")
        if isinstance(function, dict):
            if isinstance(function.get("name"), str):
                held["name"].append(function["name"])
            if isinstance(function.get("arguments"), str):
                held["arguments"].append(function["arguments"])

    def as_choice(self, index: int) -> dict[str, Any]:
        if self.legacy:
            return {"index": index, "text": "".join(self.text), "logprobs": None,
                    "finish_reason": self.finish}  # fmt: skip
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.calls:
            message["tool_calls"] = [
                {"id": c["id"] or f"call_{i}", "type": "function", "function": {
                    "name": "".join(c["name"]), "arguments": "".join(c["arguments"])}}
                for i, c in sorted(self.calls.items())
            ]  # fmt: skip
        elif message["content"] is None and not self.refusal:
            message["content"] = ""
        return {"index": index, "message": message, "finish_reason": self.finish}


class OpenAIFold:
    """Chat completion chunks (or legacy completion chunks) -> the chat.completion body."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] | None = None

    def take(self, item: bytes) -> None:
        chunk = json_object(item, self._model, "chunk in the stream")
        if "error" in chunk:  # the stream path raises it so too (parse_chunk)
            raise error_in_answer(self._model, chunk, item)
        if (foreign := foreign_event(self._model, chunk)) is not None:
            raise foreign
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if key in chunk and key not in self._head:
                self._head[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices", [])
        if not isinstance(choices, list):
            raise UpstreamError(f"{self._model}: malformed chunk in the stream")
        for choice in choices:
            index = choice.get("index", 0) if isinstance(choice, dict) else None
            if not isinstance(index, int) or isinstance(index, bool):
                raise UpstreamError(f"{self._model}: malformed chunk in the stream")
            if not 0 <= index < MAX_CHOICES:
                raise UpstreamError(f"{self._model}: malformed chunk in the stream")
            self._choices.setdefault(index, _Choice()).take(choice, self._model)

    def body(self) -> dict[str, Any]:
        if not self._choices:
            raise UpstreamError(f"{self._model}: malformed answer from upstream (no choice)")
        legacy = any(c.legacy for c in self._choices.values())
        out: dict[str, Any] = {
            **self._head,
            "object": "text_completion" if legacy else "chat.completion",
            "choices": [c.as_choice(i) for i, c in sorted(self._choices.items())],
        }
        if self._usage is not None:
            out["usage"] = self._usage
        return out


# -- Anthropic ------------------------------------------------------------------------------


class AnthropicFold:
    """Anthropic stream frames (already checked by AnthropicStream: JSON objects with a type,
    error events raised) -> the Message body."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._pieces: dict[int, dict[str, list[str]]] = {}  # block -> field -> pieces
        self._usage: dict[str, Any] = {}

    def _malformed(self) -> UpstreamError:
        return UpstreamError(f"{self._model}: malformed event in the stream")

    def take(self, item: bytes) -> None:
        data = [line[5:].strip() for line in item.split(b"\n") if line.startswith(b"data:")]
        try:
            event = lenient_json.loads(b"\n".join(data))
        except orjson.JSONDecodeError as err:
            raise self._malformed() from err
        if not isinstance(event, dict):
            raise self._malformed()
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, dict):
                raise self._malformed()
            self._message = {**message, "content": []}
            usage = message.get("usage")
            self._usage = dict(usage) if isinstance(usage, dict) else {}
        elif kind == "content_block_start":
            block = event.get("content_block")
            if not isinstance(block, dict):
                raise self._malformed()
            self._blocks[self._index(event)] = dict(block)
        elif kind == "content_block_delta":
            self._delta(self._index(event), event.get("delta"))
        elif kind == "message_delta":
            delta = event.get("delta")
            if self._message is None or not isinstance(delta, dict):
                raise self._malformed()
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    self._message[key] = delta[key]
            usage = event.get("usage")
            if isinstance(usage, dict):  # cumulative counts: the latest says each
                self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _index(self, event: dict[str, Any]) -> int:
        index = event.get("index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise self._malformed()
        return index

    def _delta(self, index: int, delta: Any) -> None:
        block = self._blocks.get(index)
        if block is None or not isinstance(delta, dict):
            raise self._malformed()
        kind = delta.get("type")
        field = {"text_delta": ("text", "text"), "input_json_delta": ("partial_json", "input"),
                 "thinking_delta": ("thinking", "thinking")}.get(str(kind))  # fmt: skip
        if field is not None:
            piece = delta.get(field[0])
            if not isinstance(piece, str):
                raise self._malformed()
            self._pieces.setdefault(index, {}).setdefault(field[1], []).append(piece)
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature")
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))

    def _finished(self, index: int, block: dict[str, Any]) -> dict[str, Any]:
        pieces = self._pieces.get(index, {})
        for name in ("text", "thinking"):
            if name in pieces:
                block[name] = str(block.get(name) or "") + "".join(pieces[name])
        if "input" in pieces:
            text = "".join(pieces["input"])
            try:
                block["input"] = lenient_json.loads(text) if text.strip() else {}
            except orjson.JSONDecodeError as err:
                raise self._malformed() from err
        return block

    def body(self) -> dict[str, Any]:
        if self._message is None:
            raise UpstreamError(f"{self._model}: malformed answer from upstream (no message)")
        content = [self._finished(i, b) for i, b in sorted(self._blocks.items())]
        return {**self._message, "content": content, "usage": self._usage}
