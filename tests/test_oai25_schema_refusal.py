"""oai25: protocols/schema_refusal's encoder wrapper on canonical events (pure): JSON streams at
once; text that opens as no JSON waits for the stop reason: a refusal's is `delta.refusal`,
any other end's the text it was; a block's held start and blanks go with it."""

from __future__ import annotations

import orjson

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StopReason,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
)
from arbiter.protocols.openai_stream import StreamEncoder
from arbiter.protocols.schema_refusal import SchemaRefusals, declined_schema

USAGE = CanonicalUsage(1, 1)


def _shown(events: list[StreamEvent]) -> tuple[list[list[dict[str, object]]], list[object]]:
    """Per event, the chunks' deltas it let out; and every finish_reason."""
    enc = SchemaRefusals(StreamEncoder("m", include_usage=False, created=1))
    out, finishes = [], []
    for e in events:
        frames = [f for f in enc.encode(e).split(b"\n\n") if f.startswith(b"data: {")]
        chunks = [orjson.loads(f[6:])["choices"][0] for f in frames]
        out.append([c["delta"] for c in chunks])
        finishes += [c["finish_reason"] for c in chunks if c["finish_reason"]]
    return out, finishes


def _answer(stop: StopReason, *texts: str) -> list[StreamEvent]:
    return [
        MessageStart("msg_1", "m", USAGE),
        BlockStart(0, "text"),
        *(TextDelta(0, t) for t in texts),
        BlockStop(0),
        MessageDelta(stop, USAGE),
        MessageStop(),
    ]


def _joined(per_event: list[list[dict[str, object]]], key: str) -> str:
    return "".join(str(d.get(key) or "") for deltas in per_event for d in deltas)


def test_prose_ending_in_a_refusal_is_the_refusal_blanks_and_all() -> None:
    per_event, finishes = _shown(_answer("refusal", "\n", " ", "I can't", " help."))
    assert _joined(per_event, "refusal") == "\n I can't help."
    assert _joined(per_event, "content") == ""
    assert finishes == ["content_filter"]


def test_json_streams_at_once_and_prose_of_another_end_stays_text() -> None:
    per_event, _ = _shown(_answer("end_turn", " ", '{"a"', ": 1}"))
    assert per_event[3] and _joined(per_event[:4], "content") == ' {"a"'  # live, not held
    per_event, _ = _shown(_answer("end_turn", "Let me", " check."))
    assert not any(per_event[:5]) and _joined(per_event, "content") == "Let me check."
    assert _joined(per_event, "refusal") == ""
    assert _joined(_shown(_answer("end_turn", "  "))[0], "content") == "  "


def test_a_call_after_held_prose_keeps_its_place() -> None:
    events: list[StreamEvent] = [
        MessageStart("msg_1", "m", USAGE),
        BlockStart(0, "text"), TextDelta(0, "Looking it up."), BlockStop(0),
        BlockStart(1, "tool_use", "toolu_1", "f"), ToolArgsDelta(1, '{"q": 1}'), BlockStop(1),
        MessageDelta("tool_use", USAGE), MessageStop(),
    ]  # fmt: skip
    per_event, finishes = _shown(events)
    flat = [d for deltas in per_event for d in deltas]
    assert flat[0].get("content") == "" and flat[1] == {"content": "Looking it up."}
    assert flat[2]["tool_calls"][0]["function"]["name"] == "f"  # type: ignore[index]
    assert finishes == ["tool_calls"]


def test_declined_schema() -> None:
    assert declined_schema("No.", "refusal") and declined_schema(" I can't", "refusal")
    assert not declined_schema("No.", "end_turn")
    assert not declined_schema(' {"a": 1}', "refusal") and not declined_schema("[1]", "refusal")
    assert not declined_schema("  ", "refusal")
