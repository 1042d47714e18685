"""Anthropic Messages streaming (SSE) <-> canonical stream events. Pure and stateful per stream.

Anthropic frames each event as `event: <type>\\ndata: <json>\\n\\n`; the JSON repeats the type, so
the decoder reads the `data:` payload only and accepts a whole frame or the bare payload.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from arbiter import errors as e
from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from arbiter.protocols.anthropic_response import (
    error_bytes,
    message_id,
    stop_reason_in,
    tool_input,
    tool_use_id,
    usage_in,
    usage_out,
    window_filled,
)
from arbiter.relayed_usage import is_count
from arbiter.upstream import lenient_json
from arbiter.upstream.http import retryable_error, safe_code


def frame_payload(frame: bytes) -> bytes:
    """The `data:` payload of one SSE frame (several data lines joined by newlines, as SSE
    says); a bare payload is returned as it is."""
    if not frame.startswith((b"event:", b"data:", b":")):
        return frame.strip()
    data = [line[5:].strip() for line in frame.splitlines() if line.startswith(b"data:")]
    return b"\n".join(data)


# Error types that name the request's fault, with the status Anthropic answers them with.
_CLIENT_ERRORS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
    "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
}  # fmt: skip


def upstream_error(model: str, error: Any) -> e.UpstreamError:
    """An Anthropic `error` (event or body, at HTTP 200) as the ArbiterError that failover
    understands, classified as the HTTP error of that type would be: invalid_request_error is
    the caller's 400 (never retried, not against the model's health; it was a retried 502), a
    401/403 the operator's key (another model may serve), a 404 a misnamed model; overloaded,
    rate limit, timeout, api_error and unknown types stay retryable. Its message is the
    upstream's prose and never reaches a client (it can quote keys or hosts): only the error
    type, when it is a plain identifier."""
    kind = error.get("type") if isinstance(error, dict) else None
    text = f"upstream {model} reported an error in the stream: {safe_code(kind) or 'unknown'}"
    if kind == "overloaded_error":
        return e.UpstreamUnavailable(text)
    if kind == "rate_limit_error":
        return e.UpstreamRateLimited(text)
    if kind == "timeout_error":
        return e.UpstreamTimeout(text)
    status = _CLIENT_ERRORS.get(kind) if isinstance(kind, str) else None
    if status is not None:
        body = {"type": "error", "error": {"type": kind}}
        return retryable_error(status, text, None) or e.UpstreamRejected(
            text, upstream_status=status, body=body
        )
    return e.UpstreamError(text)


class StreamDecoder:
    """An Anthropic upstream's events -> canonical events. Blocks with no canonical counterpart
    (thinking, server tools) are skipped, and the kept ones renumbered 0, 1, 2, ... `done` turns
    True at message_stop, the only sign of a complete answer. Garbage and `error` events raise
    UpstreamError."""

    def __init__(self, model: str = "upstream", *, thinking: bool = False) -> None:
        """`thinking`: thinking blocks are kept too (BlockStart "thinking", ThinkingDelta),
        for a client protocol that shows them (the Responses API's reasoning items)."""
        self._model = model
        self._thinking = thinking
        self._index: dict[int, int] = {}  # upstream block index -> canonical index
        self._usage = CanonicalUsage()
        # whether the upstream counted the prompt (message_start, or a message_delta repeating
        # it) and the answer (message_delta) itself: a compatible server may leave either out,
        # and a translated client is then shown Arbiter's counts (relay_codec.Translating)
        self.counted_input = False
        self.counted_output = False
        self.done = False
        # a block the canonical events leave out came (anthropic_response.holds_more's): a
        # relayed stream showed it, a cached copy of its text would not
        self.held_more = False
        self.kept_thinking = False  # a thinking block came and was kept (`thinking`)

    def feed(self, frame: bytes) -> list[StreamEvent]:
        payload = frame_payload(frame)
        if not payload:
            return []
        try:
            event = lenient_json.loads(payload)
        except orjson.JSONDecodeError as err:
            raise e.UpstreamError(f"{self._model}: malformed event in the stream") from err
        if not isinstance(event, dict):
            raise e.UpstreamError(f"{self._model}: malformed event in the stream")
        kind = event.get("type")
        if kind == "error":
            raise upstream_error(self._model, event.get("error"))
        try:
            return self._event(kind, event)
        except (KeyError, TypeError, AttributeError) as err:
            raise e.UpstreamError(f"{self._model}: malformed {kind} event in the stream") from err

    def _event(self, kind: Any, event: dict[str, Any]) -> list[StreamEvent]:
        if kind == "message_start":
            message = event["message"]
            raw_usage = message.get("usage")
            self._usage = usage_in(raw_usage)
            self.counted_input = isinstance(raw_usage, dict) and _input_counted(raw_usage)
            given = message.get("id")  # null or a number is no id (a client keys by a string)
            return [
                MessageStart(
                    given if isinstance(given, str) else "",
                    str(message.get("model", "")),
                    self._usage,
                )
            ]
        if kind == "content_block_start":
            return self._block_start(int(event["index"]), event["content_block"])
        if kind == "content_block_delta":
            upstream_index = int(event["index"])
            index = self._index.get(upstream_index)
            delta = event["delta"]
            if index is None and delta.get("type") == "text_delta":
                # text with no content_block_start before it (some Anthropic-compatible
                # servers): the block is opened here rather than its text dropped
                index = self._index[upstream_index] = len(self._index)
                return [BlockStart(index, "text"), TextDelta(index, str(delta["text"]))]
            if index is None:
                return []
            if delta.get("type") == "text_delta":
                return [TextDelta(index, str(delta["text"]))]
            if delta.get("type") == "input_json_delta":
                return [ToolArgsDelta(index, str(delta["partial_json"]))]
            if delta.get("type") == "thinking_delta":  # (its block is kept only when asked)
                return [ThinkingDelta(index, str(delta["thinking"]))]
            if delta.get("type") == "signature_delta":  # a kept thinking block's signature
                return [ThinkingDelta(index, "", signature=str(delta["signature"]))]
            self.held_more = True
            return []  # citations: nothing canonical
        if kind == "content_block_stop":
            index = self._index.get(int(event["index"]))
            return [] if index is None else [BlockStop(index)]
        if kind == "message_delta":
            return [self._message_delta(event)]
        if kind == "message_stop":
            self.done = True
            return [MessageStop()]
        return []  # ping, and event types added later (Anthropic says to ignore them)

    def _block_start(self, upstream_index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind not in ("text", "tool_use") or (kind == "text" and block.get("citations")):
            self.held_more = True
        if kind in ("thinking", "redacted_thinking") and self._thinking:
            self.kept_thinking = True
            index = self._index[upstream_index] = len(self._index)
            out: list[StreamEvent] = [BlockStart(index, "thinking")]
            thought, signature = block.get("thinking"), block.get("signature")
            if kind == "redacted_thinking":  # whole in its start: its data, no text
                out.append(ThinkingDelta(index, "", redacted=str(block.get("data") or "")))
            elif (isinstance(thought, str) and thought) or (
                isinstance(signature, str) and signature
            ):
                out.append(
                    ThinkingDelta(
                        index,
                        thought if isinstance(thought, str) else "",
                        signature=signature if isinstance(signature, str) else "",
                    )
                )
            return out
        if kind not in ("text", "tool_use"):
            return []
        index = self._index[upstream_index] = len(self._index)
        if kind == "text":
            out = [BlockStart(index, "text")]
            if text := block.get("text"):
                out.append(TextDelta(index, str(text)))
            return out
        out = [BlockStart(index, "tool_use", str(block["id"]), str(block["name"]))]
        if given := block.get("input"):  # normally {} with the arguments in deltas
            out.append(ToolArgsDelta(index, orjson.dumps(given).decode()))
        return out

    def _message_delta(self, event: dict[str, Any]) -> MessageDelta:
        delta = event.get("delta") or {}
        raw = event.get("usage")
        raw = raw if isinstance(raw, dict) else {}
        late = usage_in(raw)  # cumulative counts; input ones only when the upstream repeats them
        self.counted_input = self.counted_input or _input_counted(raw)
        self.counted_output = is_count(raw.get("output_tokens"))
        self._usage = CanonicalUsage(
            input_tokens=late.input_tokens if "input_tokens" in raw else self._usage.input_tokens,
            output_tokens=late.output_tokens,
            cache_read_input_tokens=late.cache_read_input_tokens
            or self._usage.cache_read_input_tokens,
            cache_creation_input_tokens=late.cache_creation_input_tokens
            or self._usage.cache_creation_input_tokens,
            cost=late.cost if late.cost is not None else self._usage.cost,
            cache_creation_1h_input_tokens=late.cache_creation_1h_input_tokens
            if late.cache_creation_input_tokens
            else self._usage.cache_creation_1h_input_tokens,
            counted=late.counted and self._usage.counted,
        )
        sequence = delta.get("stop_sequence")
        return MessageDelta(
            stop_reason_in(delta.get("stop_reason")),
            self._usage,
            sequence if isinstance(sequence, str) else None,
            window_filled(delta.get("stop_reason")),
        )

    @property
    def usage(self) -> CanonicalUsage:
        return self._usage


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def tool_input_json(arguments: str) -> str:
    """A tool call's whole arguments as the JSON object text an Anthropic client can parse: the
    arguments when they are an object, else {"_raw": arguments} (as the whole answer gives)."""
    return orjson.dumps(tool_input(arguments)).decode()


class StreamEncoder:
    """Canonical events -> Anthropic SSE bytes, for an Anthropic client. `model` is the name
    the client sees. message_start carries the usage known then: an OpenAI upstream tells none
    before its end, so its `input_tokens` is the sidecar's own count of the prompt
    (`prompt_tokens`: the budget's tokenizer, else routing's estimate), never 0, which clients
    that read input tokens at message_start recorded. message_delta carries the upstream's
    final cumulative usage, its own input count included: the figure that is billed."""

    def __init__(self, model: str, fallback_id: str = "", prompt_tokens: int = 0) -> None:
        """`fallback_id`: the message's id when the upstream gave none (an OpenAI stream whose
        chunks carry no `id`): the decision's, so the client never sees a bare `msg_`."""
        self._model = model
        self._fallback_id = fallback_id
        self._prompt_tokens = prompt_tokens
        # A tool call's argument fragments, held to its block's end: an OpenAI model's
        # arguments may not be a JSON object, and the SDK's stream accumulator parses every
        # input_json_delta as JSON (it raised on broken JSON and gave a list for an array).
        # Sent as one delta, they are the object the whole answer gives: {"_raw": text} when
        # they are not one (anthropic_response.tool_input).
        self._args: dict[int, list[str]] = {}
        self._thinking: set[int] = set()  # thinking blocks: not shown

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, MessageStart):
            message: dict[str, Any] = {
                "id": message_id(event.id or self._fallback_id), "type": "message",
                "role": "assistant",
                "model": self._model, "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": usage_out(self._usage_at_start(event.usage)),
            }  # fmt: skip
            return (
                _frame("message_start", {"type": "message_start", "message": message}) + self.ping()
            )
        if isinstance(event, ThinkingDelta) or (
            isinstance(event, BlockStart | BlockStop) and event.index in self._thinking
        ):
            return b""  # (an OpenAI upstream has no thinking to show)
        if isinstance(event, BlockStart):
            if event.kind == "thinking":
                self._thinking.add(event.index)
                return b""
            if event.kind == "tool_use":
                self._args[event.index] = []
            block: dict[str, Any] = (
                {"type": "text", "text": ""}  # a refusal too: Anthropic has no refusal block
                if event.kind != "tool_use"
                else {
                    "type": "tool_use",
                    "id": tool_use_id(event.id),
                    "name": event.name,
                    "input": {},
                }
            )
            return _frame("content_block_start", {
                "type": "content_block_start", "index": event.index, "content_block": block,
            })  # fmt: skip
        if isinstance(event, TextDelta):
            return self._delta(event.index, {"type": "text_delta", "text": event.text})
        if isinstance(event, ToolArgsDelta):
            held = self._args.get(event.index)
            if held is not None:
                held.append(event.partial_json)
                return b""
            return self._args_delta(event.index, event.partial_json)
        if isinstance(event, BlockStop):
            held = self._args.pop(event.index, None)
            text = "".join(held) if held is not None else ""
            out = self._args_delta(event.index, tool_input_json(text)) if text.strip() else b""
            return out + _frame(
                "content_block_stop", {"type": "content_block_stop", "index": event.index}
            )
        if isinstance(event, MessageDelta):
            return self._message_delta(event.stop_reason, event.stop_sequence, event.usage)
        if isinstance(event, MessageStop):
            return _frame("message_stop", {"type": "message_stop"})
        return self.error(event)

    def _usage_at_start(self, usage: CanonicalUsage) -> CanonicalUsage:
        if usage.prompt_tokens or not self._prompt_tokens:
            return usage  # the upstream counted it already (a cache replay's, an Anthropic's)
        return dataclasses.replace(usage, input_tokens=self._prompt_tokens)

    def _args_delta(self, index: int, partial_json: str) -> bytes:
        return self._delta(index, {"type": "input_json_delta", "partial_json": partial_json})

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return _frame(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )

    def _message_delta(
        self, reason: StopReason | None, sequence: str | None, usage: CanonicalUsage
    ) -> bytes:
        return _frame("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": usage_out(usage),
        })  # fmt: skip

    def ping(self) -> bytes:
        return _frame("ping", {"type": "ping"})

    def error(self, event: StreamError) -> bytes:
        """The terminal `error` event: the SDK raises it, so a broken answer never looks whole."""
        return b"event: error\ndata: " + error_bytes(event.error) + b"\n\n"


def _input_counted(usage: dict[str, Any]) -> bool:
    """The usage counted the prompt: `input_tokens`, or cache counts alone (they are input:
    none uncached)."""
    return any(
        is_count(usage.get(k))
        for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
