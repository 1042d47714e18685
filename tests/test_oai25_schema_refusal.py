"""oai25: protocols/schema_refusal's encoder wrapper on canonical events (pure): a text block is
told at its first non-blank text, its held start and blank deltas sent before it."""

from __future__ import annotations

import orjson

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamEvent,
    TextDelta,
)
from arbiter.protocols.openai_stream import StreamEncoder
from arbiter.protocols.schema_refusal import SchemaRefusals, declined_schema


def _deltas(events: list[StreamEvent]) -> list[dict[str, object]]:
    enc = SchemaRefusals(StreamEncoder("m", include_usage=False, created=1))
    raw = b"".join(enc.encode(e) for e in events)
    frames = [f for f in raw.split(b"\n\n") if f.startswith(b"data: {")]
    return [orjson.loads(f[6:])["choices"][0]["delta"] for f in frames]


def _answer(*texts: str) -> list[StreamEvent]:
    usage = CanonicalUsage(1, 1)
    return [
        MessageStart("msg_1", "m", usage),
        BlockStart(0, "text"),
        *(TextDelta(0, t) for t in texts),
        BlockStop(0),
        MessageDelta("end_turn", usage),
        MessageStop(),
    ]


def test_text_that_opens_as_no_json_is_the_refusal_blanks_first() -> None:
    deltas = _answer("\n", " ", "I can't", " help.")
    shown = _deltas(deltas)
    # the whole block is the refusal, its blanks too (the whole answer's refusal is its text)
    assert "".join(str(d.get("refusal") or "") for d in shown) == "\n I can't help."
    assert not any(d.get("content") for d in shown)


def test_json_stays_content_and_a_blank_block_is_text() -> None:
    shown = _deltas(_answer(" ", '{"a"', ": 1}"))
    assert "".join(str(d.get("content") or "") for d in shown) == ' {"a": 1}'
    assert not any(d.get("refusal") for d in shown)
    assert "".join(str(d.get("content") or "") for d in _deltas(_answer("  "))) == "  "


def test_declined_schema() -> None:
    assert declined_schema("No.") and declined_schema(" I can't")
    assert not declined_schema(' {"a": 1}') and not declined_schema("[1]")
    assert not declined_schema("  ")
