"""prov26: under a strict JSON schema, a Claude stream's prose (text that opens as no JSON) was
held to the stop reason in case it was a refusal; prose a tool call follows cannot be one (a
refusal is the answer's one text), so it reaches the openai SDK when the call starts, live, not
at the end. A real `arbiter serve` (probe22a's rig); the upstream holds the rest of its stream
after the call's first argument piece until the test has read what came."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
)
from arbiter.protocols.openai_stream import StreamEncoder
from arbiter.protocols.schema_refusal import SchemaRefusals
from tests.probe22a_rig import Reply, Rig, message_frames, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
_SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
    "additionalProperties": False}}}  # fmt: skip
_TOOLS: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}]  # fmt: skip


def _config(port: int, db: Path) -> str:
    caps = '["chat", "json", "json-schema", "tools"]'
    models = model_toml("an-1", "ra", (100.0, 200.0), 200000, caps)
    failover = {"first_byte_timeout_s": 8.0, "total_timeout_s": 12.0, "deadline_s": 14.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, baseline="an-1", breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_schema")), _config) as made:
        yield made


def _preamble_then_call(gate: threading.Event, stop: str = "tool_use") -> Reply:
    call = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
    events = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Let me look that up."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": call},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '{"q": '}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": '"x"}'}},
        {"type": "content_block_stop", "index": 1},
    ]  # fmt: skip
    # held back: the call's second piece and everything after it
    return Reply(frames=message_frames(events, stop), gate=gate, gate_at=6)


def test_a_tool_calls_preamble_reaches_the_client_when_the_call_starts(r: Rig) -> None:
    """Before: the preamble came with the stop reason, after the upstream's whole stream: the
    client read nothing until the upstream's hold ran out (5 s) and it sent its end."""
    gate = threading.Event()
    name = f"s{next(_n)}"
    reply = _preamble_then_call(gate)
    m = r.script(name, lambda path, body: reply)
    stream = r.oa.chat.completions.create(
        model="an-1", stream=True, response_format=_SCHEMA, tools=_TOOLS,
        messages=[{"role": "user", "content": m}],
    )  # fmt: skip
    live, content, finish = None, "", None
    with stream:
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content and live is None:
                live = not reply.gate_missed  # the upstream has not sent its end yet
                gate.set()
            content += delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    gate.set()
    assert live is True
    assert content == "Let me look that up." and finish == "tool_calls"
    assert [b["model"] for _, b in r.upstream.bodies(name)] == ["an-1"]


def test_prose_alone_still_waits_for_the_stop_reason() -> None:
    """The control (pure, on the encoder): prose and no call is held to the stop reason, so a
    refusal there is still `delta.refusal`; prose a second text block follows waits too."""
    usage = CanonicalUsage(1, 1)
    enc = SchemaRefusals(StreamEncoder("m", include_usage=False, created=1))
    events: list[StreamEvent] = [
        MessageStart("msg_1", "m", usage), BlockStart(0, "text"), TextDelta(0, "I can't."),
        BlockStop(0), BlockStart(1, "text"), TextDelta(1, "Sorry."), BlockStop(1),
    ]  # fmt: skip
    assert not any(enc.encode(e).count(b'"content":"I') for e in events)
    out = enc.encode(MessageDelta("refusal", usage)) + enc.encode(MessageStop())
    deltas = [orjson.loads(f[6:])["choices"][0]["delta"] for f in out.split(b"\n\n")
              if f.startswith(b"data: {")]  # fmt: skip
    assert "".join(d.get("refusal") or "" for d in deltas) == "I can't."
    # a call after it lets it out at the call's start
    enc = SchemaRefusals(StreamEncoder("m", include_usage=False, created=1))
    for e in events[:4]:
        enc.encode(e)
    out = enc.encode(BlockStart(1, "tool_use", "toolu_1", "f"))
    assert b'"content":"I can\'t."' in out and b'"name":"f"' in out
    assert enc.encode(ToolArgsDelta(1, "{}")) != b""  # live after it
