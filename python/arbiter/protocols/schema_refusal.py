"""A model's refusal of a strict JSON schema, told from its text: OpenAI's strict mode wants an
object at the root (Anthropic's structured outputs decode one too), so text that opens as no
JSON is the model declining ("the refusal message takes precedence over schema constraints",
Anthropic's stop_reason refusal). OpenAI answers that as a refusal (`message.refusal`, a
Responses `refusal` part); as text, the openai SDK ran it through the caller's model
(`chat.completions.stream` parses content as partial JSON on every delta, `responses.parse` /
`.stream` the done text) and raised a parse error instead of showing it. Pure."""

from __future__ import annotations

from typing import Protocol

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    MessageDelta,
    StreamError,
    StreamEvent,
    TextDelta,
)


def declined_schema(text: str) -> bool:
    """Whether `text`, answering a strict schema, opens as no JSON (blank text tells nothing)."""
    return text.lstrip()[:1] not in ("{", "[", "")


class _Encoder(Protocol):
    def encode(self, event: StreamEvent) -> bytes: ...

    def error(self, event: StreamError) -> bytes: ...


class SchemaRefusals:
    """An encoder whose text blocks are told apart at their first non-blank text: one that
    opens as no JSON starts as a refusal block (each encoder's refusal form), the rest as
    text. A text block's start and its blank deltas wait for that text (a block that ends
    blank is text)."""

    __slots__ = ("_held", "_inner")

    def __init__(self, inner: _Encoder) -> None:
        self._inner = inner
        self._held: dict[int, list[TextDelta]] = {}  # undecided text blocks' blank deltas

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, BlockStart) and event.kind == "text":
            self._held[event.index] = []
            return b""
        if isinstance(event, TextDelta) and event.index in self._held:
            if not event.text.strip():
                self._held[event.index].append(event)
                return b""
            kind = "refusal" if declined_schema(event.text) else "text"
            return self._release(event.index, kind) + self._inner.encode(event)
        if isinstance(event, BlockStop) and event.index in self._held:
            return self._release(event.index, "text") + self._inner.encode(event)
        if isinstance(event, MessageDelta):  # a block left open: shown as the text it was
            out = b"".join(self._release(i, "text") for i in list(self._held))
            return out + self._inner.encode(event)
        return self._inner.encode(event)

    def _release(self, index: int, kind: str) -> bytes:
        held = self._held.pop(index)
        out = self._inner.encode(BlockStart(index, "refusal" if kind == "refusal" else "text"))
        return out + b"".join(self._inner.encode(d) for d in held)

    def error(self, event: StreamError) -> bytes:
        return self._inner.error(event)
