"""A model's refusal of a strict JSON schema: Anthropic's structured outputs decode JSON unless
the model refuses ("the refusal message takes precedence over schema constraints", stop_reason
refusal), when its text is prose. OpenAI answers that as a refusal (`message.refusal`, a
Responses `refusal` part); as text, the openai SDK ran it through the caller's model
(`chat.completions.stream` parses content as partial JSON on every delta, `responses.parse` /
`.stream` the done text) and raised a parse error instead of showing it. So text that opens as
no JSON, in an answer that ends in a refusal, is the refusal. Pure."""

from __future__ import annotations

from typing import Protocol

from arbiter.canonical import (
    BlockStart,
    MessageDelta,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
)


def declined_schema(text: str, stop_reason: StopReason | None) -> bool:
    """Whether `text`, answering a strict schema, is the model's refusal: it opens as no JSON
    (blank text tells nothing) and the answer ended in a refusal."""
    return stop_reason == "refusal" and text.lstrip()[:1] not in ("{", "[", "")


class _Encoder(Protocol):
    def encode(self, event: StreamEvent) -> bytes: ...

    def error(self, event: StreamError) -> bytes: ...


class SchemaRefusals:
    """An encoder whose text blocks are told apart at their first non-blank text: JSON streams
    at once; text that opens as no JSON (and every event after it) waits until it cannot be a
    refusal any more, or is one: a tool call starting (the text was its preamble: shown as
    text, the call and all after it live) or the answer's stop reason (a refusal block, each
    encoder's refusal form, when it is a refusal, else the text it was). A block's start and
    blank deltas wait for its first text."""

    __slots__ = ("_held", "_inner", "_undecided", "_waiting")

    def __init__(self, inner: _Encoder) -> None:
        self._inner = inner
        self._undecided: dict[int, list[StreamEvent]] = {}  # text blocks not yet told
        self._held: list[StreamEvent] = []  # from prose on, until the stop reason
        self._waiting: set[int] = set()  # prose blocks among the held events

    def encode(self, event: StreamEvent) -> bytes:
        if self._held and isinstance(event, BlockStart) and event.kind == "tool_use":
            # a refusal is the answer's one text: prose a tool call follows is its preamble,
            # shown now as the text it was (not at the stop reason), the call live after it
            return self._release(False) + self._inner.encode(event)
        if self._held and not isinstance(event, MessageDelta):
            self._held.append(event)
            return b""
        if isinstance(event, BlockStart) and event.kind == "text":
            self._undecided[event.index] = [event]
            return b""
        if isinstance(event, TextDelta) and event.index in self._undecided:
            events = self._undecided[event.index]
            events.append(event)
            if not event.text.strip():
                return b""
            del self._undecided[event.index]
            if event.text.lstrip()[:1] in ("{", "["):
                return b"".join(self._inner.encode(e) for e in events)
            self._held, self._waiting = events, {event.index}
            return b""
        if isinstance(event, MessageDelta):
            return self._release(event.stop_reason == "refusal") + self._inner.encode(event)
        index = getattr(event, "index", None)
        if index in self._undecided:  # a block that ends blank: text
            return b"".join(self._inner.encode(e) for e in self._undecided.pop(index))
        return self._inner.encode(event)

    def _release(self, refused: bool) -> bytes:
        """The held events, the prose block started as a refusal when `refused`."""
        out = b""
        for e in [*(e for held in self._undecided.values() for e in held), *self._held]:
            if refused and isinstance(e, BlockStart) and e.index in self._waiting:
                e = BlockStart(e.index, "refusal")
            out += self._inner.encode(e)
        self._undecided, self._held = {}, []
        return out

    def error(self, event: StreamError) -> bytes:
        """A stream that breaks shows what it held as the text it was, then the error."""
        return self._release(False) + self._inner.error(event)
