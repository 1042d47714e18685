"""How one streamed answer crosses from an upstream to a client: a codec per (upstream protocol,
client protocol).

Same protocol: the upstream's bytes are relayed as they came (OpenAI `data:` payloads get their
prefix back; Anthropic frames go out whole). Different protocols: the upstream's events are
decoded into canonical events and encoded in the client's protocol. Every codec collects the
answer's text, tool calls and finish reason (in OpenAI's words, which grading reads) and holds
back the terminal event ([DONE], or message_stop): the relay sends it only once the decision is
recorded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any
from typing import Protocol as TypingProtocol

import orjson

from arbiter import relayed_usage, short_choices
from arbiter.answer_choices import StreamedCalls
from arbiter.canonical import (
    BlockStart,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    Protocol,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
)
from arbiter.errors import ArbiterError
from arbiter.ids import named
from arbiter.protocols import anthropic_stream, openai_stream
from arbiter.protocols.anthropic_response import message_id
from arbiter.protocols.anthropic_response import sse_error_event as anthropic_error_event
from arbiter.protocols.openai_response import (
    completion_id,
    content_text,
    finish_reason_out,
    unfinished,
)
from arbiter.protocols.openai_response import window_filled as openai_window_filled
from arbiter.protocols.schema_refusal import SchemaRefusals
from arbiter.surfaces.openai_chat import sse_error_event as openai_error_event
from arbiter.types import estimate_tokens
from arbiter.upstream import lenient_json
from arbiter.upstream.openai import read_chunk

MAX_CHOICES = 128  # the spec's maximum `n` (surfaces/openai_chat.py refuses more)


class CanonicalEncoder(TypingProtocol):
    """Canonical stream events -> a client protocol's bytes."""

    def encode(self, event: StreamEvent) -> bytes: ...

    def error(self, event: StreamError) -> bytes: ...


class RelayCodec(TypingProtocol):
    stop_sequence: str | None  # the caller's stop string that ended it, when the upstream said

    @property
    def parts(self) -> list[str]:
        """The answer's text as it came (its first choice's)."""
        ...

    @property
    def finish(self) -> str | None:
        """OpenAI's finish_reason words."""
        ...

    @property
    def unfinished_choice(self) -> int | None:
        """A later choice (n > 1) the stream began and never gave its finish reason, else
        None (the first choice's is `finish`)."""
        ...

    @property
    def window_filled(self) -> bool:
        """It ended because the model's context window filled (`finish` says "length"
        all the same): no answer for the cache to keep."""
        ...

    @property
    def held_more(self) -> bool:
        """The client was shown blocks the canonical answer leaves out (an Anthropic stream's
        thinking or citations relayed as they came): no answer for the cache to keep."""
        ...

    @property
    def calls(self) -> StreamedCalls:
        """The answer's tool calls, for grading."""
        ...

    def choices_body(self) -> dict[str, Any] | None:
        """Every choice as a chat.completion body, when there were several (for grading)."""
        ...

    def feed(self, item: bytes) -> bytes:
        """One upstream item (an OpenAI payload or an Anthropic frame) -> bytes for the client
        now (b"" for none). Raises UpstreamError for garbage or an upstream error event."""
        ...

    def end(self) -> bytes:
        """The upstream ended properly: what is left to send before the terminal event."""
        ...

    def terminal(self) -> bytes: ...

    def error(self, err: ArbiterError) -> bytes:
        """The one terminal error event, in the client's protocol."""
        ...


def relay_codec(
    upstream: Protocol,
    client: Protocol,
    model: str,
    *,
    include_usage: bool,
    created: int,
    stops: Sequence[str] = (),
    fallback_id: str = "",
    prompt_tokens: int = 0,
    limits: relayed_usage.Limits | None = None,
    shown_model: str = "",
    json_only: bool = False,
    asked_choices: int | None = None,
) -> RelayCodec:
    """`stops`: the caller's stop sequences, for an Anthropic client's `stop_sequence` when an
    OpenAI upstream's answer tells which one ended it (openai_response.matched_stop).
    `fallback_id`: the stream's id when the upstream's has none (the decision's), relayed or
    translated.
    `prompt_tokens`: the sidecar's count of the prompt, for an Anthropic client's
    message_start when the upstream says none before its end (an OpenAI one), and for the
    usage a client reads when its upstream counted none; `limits`, what a relayed OpenAI
    usage is held to (relayed_usage.py); `shown_model`, the model's name a translated stream
    shows (the upstream's, as a relayed one does: ChatResult.shown_model), else `model`;
    `json_only`: the caller asked a strict JSON schema (a translated answer's text that opens
    as no JSON is its refusal: schema_refusal.py); `asked_choices`: the request's `n` (1 when it
    sets none: short_choices.wanted), for a relayed stream that answers fewer or more."""
    shown = shown_model or model
    if upstream == client:
        if client == "openai":
            return OpenAIPassThrough(
                model, include_usage, completion_id(fallback_id), prompt_tokens, limits,
                asked_choices,
            )  # fmt: skip
        return AnthropicPassThrough(model, message_id(fallback_id), prompt_tokens, limits)
    decoder: openai_stream.StreamDecoder | anthropic_stream.StreamDecoder
    encoder: CanonicalEncoder
    if upstream == "openai":
        decoder = openai_stream.StreamDecoder(model, stops)
        encoder = anthropic_stream.StreamEncoder(shown, fallback_id, prompt_tokens)
    else:
        decoder = anthropic_stream.StreamDecoder(model)
        encoder = openai_stream.StreamEncoder(
            shown, include_usage=include_usage, created=created, fallback_id=fallback_id
        )
        if json_only:  # Claude's refusal of the schema: delta.refusal
            encoder = SchemaRefusals(encoder)
    return Translating(decoder, encoder, prompt_tokens, limits)


class _StreamedChoice:
    """One choice of a relayed OpenAI stream: its text, finish reason and tool calls."""

    __slots__ = ("calls", "finish", "parts", "positions")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.calls = StreamedCalls()
        self.positions = openai_stream.CallPositions()

    def take(self, choice: dict[str, Any], model: str) -> bool:
        """One chunk's piece of this choice; True when its tool-call fragments were numbered
        (the chunk must then be sent re-encoded)."""
        changed = False
        delta = choice.get("delta")
        text = None
        if isinstance(delta, dict):
            text = delta.get("content")  # a string mostly: taken as it is, no call
            if not isinstance(text, str):
                text = content_text(text)
        if delta is None and isinstance(choice.get("text"), str):
            text = choice["text"]  # a legacy /v1/completions chunk: its choice's text, no delta
        if isinstance(text, str):
            self.parts.append(text)
        elif isinstance(delta, dict) and "tool_calls" in delta:
            changed = self._number_calls(delta["tool_calls"])
            self.calls.openai_delta(delta["tool_calls"])
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:  # "" (Ollama, SGLang): none yet
            if (failure := unfinished(model, reason)) is not None:
                raise failure  # before its chunk goes out: the stream fails, as translated
            self.finish = reason
        return changed

    def _number_calls(self, calls: Any) -> bool:
        """Give index-less tool-call fragments (Gemini's) their `index`, which the SDKs'
        stream accumulators need; True when a fragment was changed."""
        changed = False
        for call in calls if isinstance(calls, list) else ():
            if not isinstance(call, dict):
                continue
            if call.get("index") is None:
                call["index"] = self.positions.of(call)
                changed = True
            elif isinstance(call["index"], int):
                self.positions.of(call)  # an index-less call after it takes the next place
        return changed

    def as_choice(self, index: int) -> dict[str, Any]:
        calls = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in self.calls.calls()]  # fmt: skip
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.parts)}
        if calls:
            message["tool_calls"] = calls
        return {"index": index, "message": message, "finish_reason": self.finish}


class OpenAIPassThrough:
    """OpenAI upstream to OpenAI client: each chunk relayed as it came. With `n` > 1 the chunks
    interleave the choices (each names its `index`): each is kept apart, `parts` / `finish` /
    `calls` are the first choice's (what the decision records), `choices_body` all of them for
    the graders. Spliced together, they recorded and graded a garble of the choices. A chunk
    without an `id` (some compatible servers send none, or "") gets the stream's: the first
    one the upstream named, else `fallback_id` (the decision's), never "" (the SDKs key the
    completion by it)."""

    __slots__ = (
        "_asked", "_choices", "_fallback_id", "_id", "_include_usage", "_last", "_limits",
        "_model", "_prompt_tokens", "_strays", "_usage", "stop_sequence",
    )  # fmt: skip

    def __init__(
        self,
        model: str,
        include_usage: bool,
        fallback_id: str = "",
        prompt_tokens: int = 0,
        limits: relayed_usage.Limits | None = None,
        asked: int | None = None,
    ) -> None:
        self._model = model
        # the request's `n`: a stream short of it says so, one past it is cut to it and says so
        self._asked = asked
        self._strays: set[int] = set()  # the indexes past n-1 dropped (at most MAX_CHOICES)
        self._prompt_tokens = prompt_tokens  # for a usage chunk whose counts are none
        self._limits = limits  # what a shown usage is held to (relayed_usage.py)
        self._include_usage = include_usage
        self._id = ""  # the stream's id: the upstream's first, else the fallback
        self._fallback_id = fallback_id
        self._choices: dict[int, _StreamedChoice] = {0: _StreamedChoice()}
        self.stop_sequence: str | None = None  # OpenAI's own answer never names it
        self._last: dict[str, Any] = {}  # the latest chunk: the shape of a usage chunk we add
        # the latest usage relayed (a well-formed one, or Arbiter's in its place), and whether
        # it came on a usage chunk of its own (the one the client asked for)
        self._usage: tuple[dict[str, Any], bool] | None = None

    @property
    def parts(self) -> list[str]:
        return self._choices[0].parts

    @property
    def finish(self) -> str | None:
        return self._choices[0].finish

    @property
    def unfinished_choice(self) -> int | None:
        # a stream that ends with one choice cut is no whole answer, as n = 1's without its
        # finish is not (probe27c: it ended clean, billed its worst case, recorded ok); one
        # never begun is a short answer (short_choices.py)
        return next((i for i, c in sorted(self._choices.items()) if i and c.finish is None), None)

    @property
    def window_filled(self) -> bool:
        return openai_window_filled(self._choices[0].finish)  # the upstream's word

    @property
    def held_more(self) -> bool:
        return False  # an OpenAI chunk's every field reaches the canonical answer, or bypasses

    @property
    def calls(self) -> StreamedCalls:
        return self._choices[0].calls

    def choices_body(self) -> dict[str, Any] | None:
        """Every choice as a chat.completion body's `choices` (for the graders), or None when
        the answer had one choice (its text, finish and calls say it all)."""
        if len(self._choices) == 1:
            return None
        return {"choices": [c.as_choice(i) for i, c in sorted(self._choices.items())]}

    def feed(self, item: bytes) -> bytes:
        chunk, exact = read_chunk(item, self._model)
        # one comparison a chunk once the stream's id is known (the upstream's, most often)
        changed = chunk.get("id") != self._id and self._fill_id(chunk)
        changed |= not exact  # `"cost": NaN` read: written anew (orjson writes it as null)
        self._last = chunk
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            if self._asked is not None and any(self._stray(c) for c in choices):
                choices = chunk["choices"] = [c for c in choices if not self._stray(c)]
                changed = True
                if not choices and chunk.get("usage") is None:
                    return b""  # stray choices only: nothing the client asked for
            for choice in choices:
                if isinstance(choice, dict):
                    index = choice.get("index")  # 0 mostly: the first choice, no call
                    at = self._choices[0] if index == 0 else self._choice(index)
                    changed |= at.take(choice, self._model)
            # a running usage on a chunk with content (vLLM's continuous usage stats) is relayed
            # as it came, held to a usage chunk's check: an absurd count is shown to no client
            if chunk.get("usage") is not None:
                changed |= self._mend_usage(chunk, own_chunk=False)
        # we always ask the upstream for usage (for cost); the client gets it only if it asked
        elif chunk.get("usage") is not None:
            if not self._include_usage:
                return b""
            changed |= self._mend_usage(chunk, own_chunk=True)
        if changed:
            item = orjson.dumps(chunk)
        if b"\n" in item:  # a payload sent over several data lines goes out the same way
            item = item.replace(b"\n", b"\ndata: ")
        return b"data: " + item + b"\n\n"  # each chunk as it comes, never batched

    def _mend_usage(self, chunk: dict[str, Any], *, own_chunk: bool) -> bool:
        """A usage whose counts are none (relayed_usage.py) gets Arbiter's in their place: the
        prompt's count, each choice's text so far estimated (True: the chunk changed). The
        check alone on a well-formed one: a running usage comes on every chunk, and estimating
        the text so far on each would cost the stream's length squared."""
        usage = chunk["usage"]
        fine = relayed_usage.openai_usage_fine(usage, self._limits)
        if not fine:
            usage = chunk["usage"] = self._own_usage()
        self._usage = (usage, own_chunk)
        return not fine

    def _own_usage(self) -> dict[str, Any]:
        answered = sum(estimate_tokens("".join(c.parts)) for c in self._choices.values())
        return relayed_usage.own_openai_usage(self._prompt_tokens, answered)

    def _fill_id(self, chunk: dict[str, Any]) -> bool:
        """Note the stream's id from its first chunk; give a chunk without one the stream's
        (True: the chunk changed). A chunk naming another id keeps it."""
        given = chunk.get("id")
        if named(given):
            self._id = self._id or given
            return False
        self._id = chunk["id"] = self._id or self._fallback_id
        return True

    def _choice(self, index: Any) -> _StreamedChoice:
        """The choice a chunk's piece belongs to: its `index`, 0 when it names none; at most
        MAX_CHOICES of them (the request's `n` is bounded so; more are the first's)."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 < index < MAX_CHOICES:
            return self._choices[0]
        return self._choices.setdefault(index, _StreamedChoice())

    def _stray(self, choice: Any) -> bool:
        """A choice past the request's `n` (index n or more), noted: it is not relayed."""
        index = choice.get("index") if isinstance(choice, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or self._asked is None:
            return False
        if index < self._asked:
            return False
        if len(self._strays) < MAX_CHOICES:
            self._strays.add(index)
        return True

    @property
    def short(self) -> str | None:
        """ "got of asked" when the stream answered fewer choices than the request's `n`, or
        more (the extra were cut)."""
        return short_choices.off(self._asked, len(self._choices) + len(self._strays))

    def end(self) -> bytes:
        """The usage chunk a client that asked for one (`stream_options.include_usage`) is
        promised before [DONE] (empty `choices`, the whole call's usage), when the upstream sent
        none (a compatible server that ignores the option, a gateway that drops it): the latest
        running usage relayed, else Arbiter's counts. Without it the SDKs' streams end with no
        usage at all, and a client that meters its calls by it counts the call as free. Then,
        when the answer is short of `n`, the chunk that says so (short_choices.py)."""
        out = b""
        if self._include_usage and (self._usage is None or not self._usage[1]):
            usage = self._own_usage() if self._usage is None else self._usage[0]
            out = self._own_chunk({"usage": usage})
        if (short := self.short) is not None:
            out += self._own_chunk({short_choices.CHUNK_FIELD: short})
        return out

    def _own_chunk(self, fields: dict[str, Any]) -> bytes:
        """A chunk of Arbiter's with no choice, shaped as the stream's latest."""
        last = self._last
        kind, created, model = last.get("object"), last.get("created"), last.get("model")
        chunk = {
            "id": self._id or self._fallback_id,
            "object": kind if isinstance(kind, str) and kind else "chat.completion.chunk",
            "created": created if type(created) is int else int(time.time()),
            "model": model if isinstance(model, str) and model else self._model,
            "choices": [],
            **fields,
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def terminal(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, err: ArbiterError) -> bytes:
        return openai_error_event(err)


class _Collecting:
    """Text and finish reason from canonical events; message_stop is held back."""

    __slots__ = ("calls", "finish", "parts", "stop_sequence", "window_filled")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.window_filled = False
        self.stop_sequence: str | None = None
        self.calls = StreamedCalls()

    unfinished_choice = None  # an Anthropic answer has one choice

    def choices_body(self) -> dict[str, Any] | None:
        return None  # an Anthropic answer has one choice

    def _see(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.parts.append(event.text)
        elif isinstance(event, ToolArgsDelta):
            self.calls.args(event.index, event.partial_json)
        elif isinstance(event, BlockStart):
            if event.kind == "tool_use" and event.name is not None:
                self.calls.start(event.index, event.name)
        elif isinstance(event, MessageDelta):
            self.finish = finish_reason_out(event.stop_reason)
            self.stop_sequence = event.stop_sequence
            self.window_filled = event.window_filled


class AnthropicPassThrough(_Collecting):
    """Anthropic upstream to Anthropic client: each frame relayed as it came, but for the end.
    The upstream's message_delta (and whatever follows it) is held until the stream ends
    properly, as the translating codecs hold theirs: a stream that fails after it must end with
    its error event alone, not a delta the SDK folds into its message (a stop reason, the output
    count) before the error. The upstream's message_stop frame is the terminal event. A
    message_start whose message has no `id` (or "") is sent with `fallback_id` (the
    decision's): the SDK's message is keyed by it. A message_start or message_delta without a
    well-formed `usage` (which the SDK's types require) is sent with Arbiter's counts
    (relayed_usage.py; `prompt_tokens`: the sidecar's count of the prompt)."""

    __slots__ = ("_decoder", "_fallback_id", "_held", "_limits", "_prompt_tokens", "_stop")

    def __init__(
        self,
        model: str,
        fallback_id: str = "",
        prompt_tokens: int = 0,
        limits: relayed_usage.Limits | None = None,
    ) -> None:
        super().__init__()
        self._decoder = anthropic_stream.StreamDecoder(model)
        self._fallback_id = fallback_id
        self._prompt_tokens = prompt_tokens
        self._limits = limits  # what a relayed usage is held to (relayed_usage.py)
        self._stop = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
        self._held = b""

    def feed(self, item: bytes) -> bytes:
        held = bool(self._held)
        stop = False
        for event in self._decoder.feed(item):
            self._see(event)
            stop = stop or isinstance(event, MessageStop)
            held = held or isinstance(event, MessageDelta)
            if isinstance(event, MessageStart) and (
                not event.id
                or not relayed_usage.surely_fine(event.usage.input_tokens)
                or self._past(event.usage)
            ):
                item = _mended_start(item, self._fallback_id, self._prompt_tokens, self._limits)
            elif isinstance(event, MessageDelta) and (
                not relayed_usage.surely_fine(event.usage.output_tokens) or self._past(event.usage)
            ):
                output = estimate_tokens("".join(self.parts))
                item = _mended_delta(item, output, self._limits)
        if stop:
            self._stop = item
            return b""
        if held:  # the end of the message: sent by end(), when the upstream ended properly
            self._held += item
            return b""
        return item

    @property
    def held_more(self) -> bool:
        return self._decoder.held_more

    def _past(self, usage: CanonicalUsage) -> bool:
        """A decoded usage past what the call could bill (relayed_usage.py)."""
        limits = self._limits
        if limits is None:
            return False
        return bool(usage.output_tokens > limits[0] or usage.prompt_tokens > limits[1])

    def end(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def terminal(self) -> bytes:
        return self._stop

    def error(self, err: ArbiterError) -> bytes:
        return anthropic_error_event(err)


def _mended_start(
    frame: bytes, fallback_id: str, prompt_tokens: int, limits: relayed_usage.Limits | None
) -> bytes:
    """A message_start frame (the decoder read it: a JSON object with a `message` object) with
    `fallback_id` as its message's id where it has none, and Arbiter's counts as its usage
    where it has no well-formed one (relayed_usage.py)."""
    event = lenient_json.loads(anthropic_stream.frame_payload(frame))
    message = event["message"]
    given = message.get("id")
    if not (isinstance(given, str) and given):
        message["id"] = fallback_id
    usage = relayed_usage.anthropic_usage(message.get("usage"), prompt_tokens, 0, limits)
    if usage is not None:
        message["usage"] = usage
    return b"event: message_start\ndata: " + orjson.dumps(event) + b"\n\n"


def _mended_delta(frame: bytes, output_tokens: int, limits: relayed_usage.Limits | None) -> bytes:
    """A message_delta frame with Arbiter's count of the answer as its usage where it has no
    well-formed one; else the frame as it came."""
    event = lenient_json.loads(anthropic_stream.frame_payload(frame))
    usage = relayed_usage.anthropic_delta_usage(event.get("usage"), output_tokens, limits)
    if usage is None:
        return frame
    event["usage"] = usage
    return b"event: message_delta\ndata: " + orjson.dumps(event) + b"\n\n"


class Translating(_Collecting):
    """One protocol's upstream events -> canonical -> the other protocol's client events."""

    __slots__ = ("_decoder", "_encoder", "_finish_bytes", "_limits", "_prompt_tokens")

    def __init__(
        self,
        decoder: openai_stream.StreamDecoder | anthropic_stream.StreamDecoder,
        encoder: CanonicalEncoder,
        prompt_tokens: int = 0,
        limits: relayed_usage.Limits | None = None,
    ) -> None:
        """`prompt_tokens`: the sidecar's count of the prompt, shown where an Anthropic
        upstream counted none; `limits`: what the end's usage is held to (relayed_usage.py)."""
        super().__init__()
        self._decoder = decoder
        self._encoder = encoder
        self._prompt_tokens = prompt_tokens
        self._limits = limits
        self._finish_bytes = b""  # the stop reason (and usage): sent once the upstream ended

    def _encode(self, events: list[StreamEvent]) -> bytes:
        out = b""
        for event in events:
            self._see(event)
            if isinstance(event, MessageStop):
                continue
            if isinstance(event, MessageDelta):
                event = self._counted(event)
            encoded = self._encoder.encode(event)
            if isinstance(event, MessageDelta):
                # held: a stream that breaks after it must not show the client a finish reason
                self._finish_bytes += encoded
            else:
                out += encoded
        return out

    def _counted(self, event: MessageDelta) -> MessageDelta:
        """The end's usage with Arbiter's counts where an Anthropic upstream gave none (a
        message_delta without `usage`, or without its `output_tokens`; a message_start without
        `input_tokens`): an OpenAI client that asked for usage read `completion_tokens: 0` and
        metered the answer as free. The prompt as the sidecar counts it, the answer estimated
        from its text, as relayed_usage.py gives a same-protocol client (the bill never
        believed the missing count: upstream/anthropic.py). A count past what the call could
        bill, the same (relayed_usage.canonical_shown)."""
        decoder = self._decoder
        if self._limits is not None or not event.usage.counted:
            usage = relayed_usage.canonical_shown(
                event.usage, self._prompt_tokens, estimate_tokens("".join(self.parts)),
                self._limits,
            )  # fmt: skip
            if usage is not event.usage:
                return dataclasses.replace(event, usage=usage)
        if not isinstance(decoder, anthropic_stream.StreamDecoder) or (
            decoder.counted_input and decoder.counted_output
        ):
            return event
        usage = event.usage
        if not decoder.counted_input:
            usage = dataclasses.replace(usage, input_tokens=self._prompt_tokens)
        if not decoder.counted_output:
            usage = dataclasses.replace(usage, output_tokens=estimate_tokens("".join(self.parts)))
        return dataclasses.replace(event, usage=usage)

    @property
    def held_more(self) -> bool:
        # its client was shown the canonical events alone: thinking too where the decoder kept
        # it (the Responses API's reasoning items), which a cached answer does not hold
        decoder = self._decoder
        return isinstance(decoder, anthropic_stream.StreamDecoder) and decoder.kept_thinking

    def feed(self, item: bytes) -> bytes:
        return self._encode(self._decoder.feed(item))

    def end(self) -> bytes:
        out = b""
        if isinstance(self._decoder, openai_stream.StreamDecoder) and not self._decoder.done:
            if not self._decoder.finish_seen:
                # no choice finished: no stop reason the decoder would make up is shown, and
                # with none (`finish`) the relay fails the stream, as a same-protocol one
                return b""
            out = self._encode(self._decoder.finish())  # OpenAI's [DONE] is not an item
        held, self._finish_bytes = self._finish_bytes, b""
        return out + held

    def terminal(self) -> bytes:
        return self._encoder.encode(MessageStop())

    def encode_events(self, events: list[StreamEvent]) -> bytes:
        """Canonical events as they come, with no upstream to decode (a follower of an
        identical stream in flight: live_follow.py); its end is `replay`'s (the finish held)."""
        return self._encode(events)

    def replay(self, events: list[StreamEvent]) -> bytes:
        """A whole answer already canonical (a cache hit), terminal event included: the
        client's protocol's stream with no upstream to decode."""
        out = self._encode(events)
        held, self._finish_bytes = self._finish_bytes, b""
        return out + held + self.terminal()

    def error(self, err: ArbiterError) -> bytes:
        """What the decoder held for a block that never ended (text that came while a tool
        call streamed), then the error event: held, it was lost with the stream."""
        held = b""
        if isinstance(self._decoder, openai_stream.StreamDecoder):
            held = self._encode(self._decoder.cut())
        return held + self._encoder.error(StreamError(err))
