"""A Responses client streaming from an Anthropic-protocol upstream that thinks: the thinking
blocks were dropped in translation, so a client saw nothing while the model thought, and when the
upstream's stream was cut mid-thinking `response.failed` said `output: []`. A thinking block now
streams as a `reasoning` item (its text the item's `reasoning_text` content, as OpenAI streams a
reasoning model's text), and a cut stream's `response.failed` carries that item `incomplete`
with the text the client was shown. Read through the official openai SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.adversarial.test_probe16b_usage_lies import raw_anthropic_upstream
from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate, validate_response_event
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)

THOUGHTS = ["Paris is the capital; ", "the user wants one word."]


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _thinking_stream(*, cut: bool) -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 9, "output_tokens": 1}}  # fmt: skip
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        *({"type": "content_block_delta", "index": 0,
           "delta": {"type": "thinking_delta", "thinking": t}} for t in THOUGHTS),
    ]  # fmt: skip
    if not cut:
        events += [
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "signature_delta", "signature": "c2ln"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1,
             "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 1,
             "delta": {"type": "text_delta", "text": "Paris."}},
            {"type": "content_block_stop", "index": 1},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 20}},
            {"type": "message_stop"},
        ]  # fmt: skip
    return b"".join(map(_event, events))


async def _events(tmp: Path, cut: bool) -> list[Any]:
    body = _thinking_stream(cut=cut)

    async def answer(writer: asyncio.StreamWriter) -> None:
        if not cut:
            writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))
            return
        # chunked, and the connection closes before the last chunk: a cut stream
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body))

    async with scripted_upstream(answer) as (port, _):
        edit = raw_anthropic_upstream(port)
        async with (
            sidecar_in_process(tmp, edit_config=lambda t: fast_failover(edit(t))) as sc,
            sdks(sc) as (_, gpt),
        ):
            stream = await gpt.responses.create(model="an-raw", input="Capital?", stream=True)
            events = [event async for event in stream]
    for event in events:  # every event as OpenAI's spec has it
        validate_response_event(event.model_dump(mode="json", exclude_unset=True))
    return events


def test_thinking_streams_as_a_reasoning_item(tmp_path: Path) -> None:
    events = asyncio.run(_events(tmp_path, cut=False))
    deltas = [e.delta for e in events if e.type == "response.reasoning_text.delta"]
    assert deltas == THOUGHTS
    done = events[-1]
    assert done.type == "response.completed", [e.type for e in events]
    validate("Response", done.response.model_dump(mode="json", exclude_unset=True))
    reasoning, message = done.response.output
    assert reasoning.type == "reasoning" and reasoning.status == "completed"
    assert [c.text for c in reasoning.content or []] == ["".join(THOUGHTS)]
    assert message.type == "message" and message.content[0].text == "Paris."
    assert done.response.output_text == "Paris."  # the thinking is never the answer's text


def test_a_stream_cut_mid_thinking_fails_with_the_reasoning_shown(tmp_path: Path) -> None:
    events = asyncio.run(_events(tmp_path, cut=True))
    shown = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert shown == "".join(THOUGHTS)
    failed = events[-1]
    assert failed.type == "response.failed", [e.type for e in events]
    (item,) = failed.response.output
    assert item.type == "reasoning" and item.status == "incomplete"
    assert [c.text for c in item.content or []] == [shown]


def test_other_clients_and_the_record_never_see_the_thinking() -> None:
    """The decoder keeps thinking blocks only when asked (the Responses codec); fed to the chat
    or Anthropic encoders they show nothing, and the collected answer text holds none of it."""
    from arbiter.protocols import anthropic_stream, openai_stream
    from arbiter.relay_codec import Translating

    frames = _thinking_stream(cut=False).split(b"\n\n")
    for encoder in (
        openai_stream.StreamEncoder("m", include_usage=False, created=1),
        anthropic_stream.StreamEncoder("m"),
    ):
        decoder = anthropic_stream.StreamDecoder("m", thinking=True)
        codec = Translating(decoder, encoder)
        out = b"".join(codec.feed(f + b"\n\n") for f in frames if f) + codec.end()
        assert b"Paris is the capital" not in out and b"Paris." in out
        assert codec.parts == ["Paris."]
