"""OpenAI chat.completion.chunk streams <-> canonical stream events. Pure, stateful per stream.

OpenAI has no block structure: text and tool-call fragments (addressed by tool-call `index`)
arrive as deltas, the finish reason in a late chunk and usage in the last one before
`[DONE]`. The decoder builds Anthropic-style blocks from them; the encoder flattens blocks back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

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
    whole_usage,
)
from arbiter.errors import UpstreamError
from arbiter.protocols.openai_response import (
    arguments_text,
    call_id_or_made,
    completion_id,
    content_text,
    finish_reason_out,
    legacy_call,
    matched_stop,
    stop_reason_in,
    usage_in,
    usage_out,
    window_filled,
)
from arbiter.surfaces.openai_chat import sse_error_event
from arbiter.upstream import lenient_json
from arbiter.upstream.openai_errors import error_in_answer, foreign_event


class CallPositions:
    """Each tool-call fragment's place in tool_calls. Some OpenAI-compatible servers (Gemini's)
    send no `index`: a fragment with a new id is then the next call, one without an id
    continues the last (read as call 0, a second call was lost in the first)."""

    __slots__ = ("_last", "_next")

    def __init__(self) -> None:
        self._last: tuple[int, Any] | None = None  # (position, id) of the last index-less call
        self._next = 0

    def of(self, call: dict[str, Any]) -> int:
        if call.get("index") is not None:
            position = int(call["index"])
            self._next = max(self._next, position + 1)
            return position
        call_id = call.get("id")
        if self._last is not None and (not call_id or call_id == self._last[1]):
            return self._last[0]
        self._last, self._next = (self._next, call_id), self._next + 1
        return self._last[0]


class _HeldCall:
    """A tool call that began while another was still streaming: its id, name and fragments."""

    __slots__ = ("arguments", "call_id", "name")

    def __init__(self, call_id: str, name: str) -> None:
        self.call_id, self.name = call_id, name
        self.arguments: list[str] = []


class StreamDecoder:
    """An OpenAI upstream's chunk payloads (the text after `data: `) -> canonical events.
    Only choice 0 is read. The closing MessageDelta and MessageStop come at `[DONE]` (fed as a
    payload, or by calling finish()), when usage is known; `done` is then True.

    Canonical blocks follow one another (Anthropic's rule: no delta after a block's stop), but
    OpenAI addresses tool-call fragments by `index`, and a server may interleave two calls'
    fragments (call 1 begins, then more of call 0's arguments). The first call streams live;
    a call that begins while it is open is held whole and sent, start to stop, once the live
    block ends (a refusal, the finish): closing call 0 when call 1 began cut call 0's
    arguments, and its late fragments came after its block's stop. Text that arrives while a
    call streams is held the same way, and sent as its own block once the call's block ends
    (more of the call's arguments may still follow it: they came after the block's stop); so
    is a refusal (its own refusal block after the held text: closing the call for it cut the
    call's arguments as a second call did). A stream cut while something is held sends it
    first (`cut`): the open call's block ends marked cut, then the held text, refusal and
    calls, so a client sees what the upstream sent before the error. A call whose first
    fragment has no name (a server that sends it later: OpenAI's SDK joins the pieces) is held
    until its name comes, since its block's start carries the name (it began with none)."""

    def __init__(self, model: str = "upstream", stops: Sequence[str] = ()) -> None:
        """`stops`: the caller's stop sequences, to tell a stop on one (matched_stop)."""
        self._model = model
        self._stops = tuple(stops)
        self._tail_chars = max(map(len, self._stops), default=0)
        self._tail = ""  # the text's last `_tail_chars` characters: where a kept stop string is
        self._finish_choice: dict[str, Any] = {}  # the choice that carried finish_reason
        self._started = False
        self._open: int | None = None  # the canonical block now open
        self._text_block: int | None = None
        self._refusal_block: int | None = None  # the refusal's block, once one began
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool-call index -> canonical index
        self._held: dict[int, _HeldCall] = {}  # calls begun while a call streams, by position
        self._call_open = False  # whether the open block is a tool call's
        self._held_text: list[str] = []  # text that arrived while a call streamed
        self._held_refusal: list[str] = []  # a refusal that arrived while a call streamed
        self._positions = CallPositions()
        self._id = ""  # the upstream's response id (first chunk)
        self._blocks = 0
        self._stop: StopReason | None = None
        # none sent (yet): the client is shown Arbiter's counts, never 0 (canonical.whole_usage)
        self._usage = CanonicalUsage(counted=False)
        self.done = False
        # the tier the call ran at, as the chunks name it (the Responses API's Response says it)
        self.service_tier: str | None = None

    def feed(self, payload: bytes) -> list[StreamEvent]:
        payload = payload.strip()
        if payload.startswith(b"data:"):
            payload = payload[5:].strip()
        if not payload:
            return []
        if payload == b"[DONE]":
            return self.finish()
        try:
            chunk = lenient_json.loads(payload)
        except orjson.JSONDecodeError as err:
            raise UpstreamError(f"{self._model}: malformed chunk in the stream") from err
        if not isinstance(chunk, dict):
            raise UpstreamError(f"{self._model}: malformed chunk in the stream")
        if "error" in chunk:  # classified by its code, as the same error with its HTTP status
            raise error_in_answer(self._model, chunk, payload)
        if (foreign := foreign_event(self._model, chunk)) is not None:
            raise foreign
        try:
            return self._chunk(chunk)
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise UpstreamError(f"{self._model}: malformed chunk in the stream") from err

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if (tier := chunk.get("service_tier")) is not None and isinstance(tier, str) and tier:
            self.service_tier = tier[:64]
        if not self._started:
            self._started = True
            self._id = str(chunk.get("id") or "")
            out.append(MessageStart(self._id, str(chunk.get("model") or "")))
        if isinstance(chunk.get("usage"), dict):
            raw = chunk["usage"]
            self._usage = whole_usage(usage_in(raw), raw, ("prompt_tokens", "completion_tokens"))
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text, refusal = content_text(delta.get("content")), delta.get("refusal")
            if isinstance(text, str) and text:
                out.extend(self._text(text))
            if isinstance(refusal, str) and refusal:
                out.extend(self._refusal(refusal))
            for call in delta.get("tool_calls") or legacy_call(delta):
                out.extend(self._tool_fragment(call))
            reason = choice.get("finish_reason")
            if reason:  # "" on every chunk from some servers (Ollama, SGLang) means none
                refused = self._refusal_block is not None or bool(self._held_refusal)
                self._stop = "refusal" if refused else stop_reason_in(reason)
                self._finish_choice = choice
                out.extend(self._close())
        return out

    def _close(self, *, cut: bool = False) -> list[StreamEvent]:
        """End the open block, then send the held text, the held refusal and each held call
        whole, in the order they began. `cut`: the stream broke off; every block ended here is
        marked so (none of them is known to be whole)."""
        out: list[StreamEvent] = []
        if self._open is not None:
            out.append(BlockStop(self._open, cut))
            self._open, self._call_open = None, False
        if self._held_text:
            index = self._text_block = self._blocks
            self._blocks += 1
            text, self._held_text = "".join(self._held_text), []
            out.extend((BlockStart(index, "text"), TextDelta(index, text), BlockStop(index, cut)))
        if self._held_refusal:
            index = self._refusal_block = self._blocks
            self._blocks += 1
            text, self._held_refusal = "".join(self._held_refusal), []
            out.extend(
                (BlockStart(index, "refusal"), TextDelta(index, text), BlockStop(index, cut))
            )
        held, self._held = self._held, {}
        for position, call in held.items():
            index = self._tool_blocks[position] = self._blocks
            self._blocks += 1
            out.append(BlockStart(index, "tool_use", call.call_id, call.name))
            if call.arguments:
                out.append(ToolArgsDelta(index, "".join(call.arguments)))
            out.append(BlockStop(index, cut))
        return out

    def cut(self) -> list[StreamEvent]:
        """The stream broke off (an error, a cut connection, the deadline): what was held
        while a call streamed, to send before the error event; nothing when nothing is held
        (the open block is then left as it was cut, as every stream's is)."""
        if self.done or not (self._held_text or self._held_refusal or self._held):
            return []
        return self._close(cut=True)

    def _begin(self) -> tuple[int, list[StreamEvent]]:
        closed = self._close()
        index = self._open = self._blocks
        self._blocks += 1
        return index, closed

    def _text(self, text: str) -> list[StreamEvent]:
        if self._tail_chars:
            self._tail = (self._tail + text[-self._tail_chars :])[-self._tail_chars :]
        if self._open is not None and self._open == self._text_block:
            return [TextDelta(self._open, text)]
        if self._call_open:  # the call's arguments may go on after this text: held (_close)
            self._held_text.append(text)
            return []
        index, out = self._begin()
        self._text_block = index
        return [*out, BlockStart(index, "text"), TextDelta(index, text)]

    def _refusal(self, text: str) -> list[StreamEvent]:
        """A refusal is its own block, so the Responses API can show it as a refusal part."""
        if self._open is not None and self._open == self._refusal_block:
            return [TextDelta(self._open, text)]
        if self._call_open:  # as text: the call's arguments may go on after it (_close)
            self._held_refusal.append(text)
            return []
        index, out = self._begin()
        self._refusal_block = index
        return [*out, BlockStart(index, "refusal"), TextDelta(index, text)]

    def _tool_fragment(self, call: dict[str, Any]) -> list[StreamEvent]:
        fn = call.get("function") or {}
        position = self._positions.of(call)
        out: list[StreamEvent] = []
        index = self._tool_blocks.get(position)
        held = self._held.get(position)
        if index is None and held is None and (self._call_open or not fn.get("name")):
            # another call is streaming: this one waits for its block to end (_close); or it
            # has not said its name yet, which its block's start carries: it waits for it
            call_id = call_id_or_made(call.get("id"), self._id, position)
            held = self._held[position] = _HeldCall(call_id, str(fn.get("name") or ""))
        if held is not None:
            if not held.name and fn.get("name"):
                held.name = str(fn["name"])
            if arguments := arguments_text(fn.get("arguments")):
                held.arguments.append(arguments)
            if held.name and not self._call_open and next(iter(self._held)) == position:
                return self._live(position, held)  # its name came: it streams from here
            return []
        if index is None:
            index, out = self._begin()
            self._tool_blocks[position], self._call_open = index, True
            out.append(
                BlockStart(
                    index,
                    "tool_use",
                    call_id_or_made(call.get("id"), self._id, position),
                    str(fn.get("name") or ""),
                )
            )
        arguments = arguments_text(fn.get("arguments"))  # an object, from some servers
        if arguments:
            out.append(ToolArgsDelta(index, arguments))
        return out

    def _live(self, position: int, call: _HeldCall) -> list[StreamEvent]:
        """A call held for its name (none open before it) becomes the open block."""
        del self._held[position]
        index, out = self._begin()
        self._tool_blocks[position], self._call_open = index, True
        out.append(BlockStart(index, "tool_use", call.call_id, call.name))
        if call.arguments:
            out.append(ToolArgsDelta(index, "".join(call.arguments)))
        return out

    def finish(self) -> list[StreamEvent]:
        if self.done:
            return []
        self.done = True
        out: list[StreamEvent] = [] if self._started else [MessageStart("", "")]
        out.extend(self._close())
        stop = self._stop or "end_turn"
        if stop == "end_turn" and self._tool_blocks:
            stop = "tool_use"  # tool calls ended by "stop" (a forced tool_choice; Gemini always)
        sequence = None
        if self._stop == "end_turn" and stop == "end_turn" and self._stops:
            sequence = matched_stop(self._tail, self._finish_choice, self._stops)
            stop = "stop_sequence" if sequence is not None else stop
        filled = window_filled(self._finish_choice.get("finish_reason"))
        return [*out, MessageDelta(stop, self._usage, sequence, filled), MessageStop()]

    @property
    def usage(self) -> CanonicalUsage:
        return self._usage

    @property
    def finish_seen(self) -> bool:
        """Whether a chunk carried a finish_reason (finish() says `end_turn` without one)."""
        return self._stop is not None


class StreamEncoder:
    """Canonical events -> OpenAI `data: {chunk}\\n\\n` bytes, ending with `data: [DONE]`.
    With `include_usage` the usage chunk (empty choices) precedes [DONE] and every other chunk
    says `"usage": null`, as OpenAI does. `created` is passed in: no clock read here."""

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool,
        created: int,
        fallback_id: str = "",
    ) -> None:
        """`fallback_id`: the completion's id when the upstream gave none (an Anthropic
        message_start without an `id`): the decision's, never a bare `chatcmpl-`."""
        self._model = model
        # The role chunk waits for the first thing shown: OpenAI's says `content: null` when
        # the answer opens with a tool call (or a refusal), "" when it opens with text, as the
        # whole answer's `content` is null or text; message_start alone does not tell (an
        # Anthropic upstream's first block follows it at once; thinking is not shown, and
        # OpenAI's live stream says nothing while a model reasons)
        self._role_pending = False
        self._fallback_id = fallback_id
        self._include_usage = include_usage
        self._created = created
        self._id = "chatcmpl-"
        self._tool_positions: dict[int, int] = {}  # canonical block index -> tool_calls index
        self._no_args: set[int] = set()  # tool blocks no argument text has reached yet
        self._refusals: set[int] = set()  # refusal blocks: their text goes in `delta.refusal`

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self._id, "object": "chat.completion.chunk", "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }  # fmt: skip
        if self._include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, MessageStart):
            self._id = completion_id(event.id or self._fallback_id)
            self._role_pending = True
            return b""
        if isinstance(event, BlockStart):
            if event.kind == "refusal":
                self._refusals.add(event.index)
            if event.kind != "tool_use":
                return b""  # the role chunk waits for the block's first text
            position = self._tool_positions[event.index] = len(self._tool_positions)
            self._no_args.add(event.index)
            call = {
                "index": position, "id": event.id, "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }  # fmt: skip
            if self._role_pending:  # OpenAI opens a call-first answer with one chunk: both
                return self._role(None, tool_calls=[call])
            return self._chunk({"tool_calls": [call]})
        if isinstance(event, TextDelta):
            refusal = event.index in self._refusals
            if not event.text and self._role_pending:
                return b""  # an empty text block before a call: the whole answer says null
            role = self._role(None if refusal else "")
            return role + self._chunk({"refusal" if refusal else "content": event.text})
        if isinstance(event, ThinkingDelta):
            return b""  # thinking blocks (kept only when a decoder was asked): not shown
        if isinstance(event, ToolArgsDelta):
            if not event.partial_json:
                return b""
            self._no_args.discard(event.index)
            return self._args(event.index, event.partial_json)
        if isinstance(event, BlockStop):
            # Anthropic streams a call without arguments as `input: {}` and no (or an empty)
            # fragment: "{}" is what the whole answer says, and what json.loads accepts
            if event.index in self._no_args:
                self._no_args.discard(event.index)
                return self._args(event.index, "{}")
            return b""
        if isinstance(event, MessageDelta):
            out = self._role("")  # an answer without a block: empty text
            out += self._chunk({}, finish_reason_out(event.stop_reason) or "stop")
            if self._include_usage:
                usage = {
                    "id": self._id, "object": "chat.completion.chunk", "created": self._created,
                    "model": self._model, "choices": [], "usage": usage_out(event.usage),
                }  # fmt: skip
                out += b"data: " + orjson.dumps(usage) + b"\n\n"
            return out
        if isinstance(event, MessageStop):
            return b"data: [DONE]\n\n"
        return self.error(event)

    def _role(self, content: str | None, **more: Any) -> bytes:
        """The role chunk, once, when the first block (or the end) tells its `content`; with
        `refusal: null`, as OpenAI's live role chunk says."""
        if not self._role_pending:
            return b""
        self._role_pending = False
        return self._chunk({"role": "assistant", "content": content, **more, "refusal": None})

    def _args(self, index: int, text: str) -> bytes:
        position = self._tool_positions.get(index, 0)
        return self._chunk({"tool_calls": [{"index": position, "function": {"arguments": text}}]})

    def error(self, event: StreamError) -> bytes:
        """OpenAI's terminal error: one `data:` error object and no [DONE] after it."""
        return sse_error_event(event.error)
