"""Probes (seventeenth session, left by probes17b): an OpenAI-protocol upstream that streams text
between two fragments of the same tool call (call 0 begins, text, then the rest of call 0's
arguments). The decoder closed the call's block when the text began, so the late fragments came
after that block's stop: an Anthropic client got a content_block_delta after its
content_block_stop (the SDK's accumulator appends it to a finished block), and the Responses API
lost them. Now text that arrives while a call streams is held and sent as its own block once
the call's block ends: every block is whole and stops once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.canonical import BlockStart, BlockStop, TextDelta, ToolArgsDelta
from arbiter.protocols.openai_stream import StreamDecoder
from tests.adversarial.hostile_upstream import scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import anthropic_events, sdks

pytestmark = pytest.mark.timeout(90)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


CHUNKS = [
    _chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":'}}]}),
    _chunk({"content": "Checking the weather."}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    _chunk({}, "tool_calls"),
]  # fmt: skip
SSE = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS) + b"data: [DONE]\n\n"
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}


def _answer() -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"content-length: %d\r\n\r\n" % len(SSE) + SSE
        )

    return answer


def test_the_decoder_keeps_a_calls_late_fragments_inside_its_block() -> None:
    decoder = StreamDecoder("oa-raw")
    events = [e for c in CHUNKS for e in decoder.feed(orjson.dumps(c))] + decoder.finish()
    open_blocks: set[int] = set()
    stopped: set[int] = set()
    args: dict[int, str] = {}
    text = ""
    for event in events:
        if isinstance(event, BlockStart):
            assert not open_blocks, "blocks are one after another"
            open_blocks.add(event.index)
        elif isinstance(event, ToolArgsDelta | TextDelta):
            assert event.index in open_blocks and event.index not in stopped, event
            if isinstance(event, ToolArgsDelta):
                args[event.index] = args.get(event.index, "") + event.partial_json
            else:
                text += event.text
        elif isinstance(event, BlockStop):
            open_blocks.discard(event.index)
            stopped.add(event.index)
    assert [json.loads(a) for a in args.values()] == [{"city": "Paris"}]
    assert text == "Checking the weather."


def test_anthropic_and_responses_clients_get_the_call_whole_and_the_text(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            scripted_upstream(_answer()) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
            sdks(sc) as (claude, gpt),
        ):
            ask = {
                "model": "oa-raw", "max_tokens": 100, "stream": True,
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            }  # fmt: skip
            r = await sc.client.post("/v1/messages", json=ask, headers=sc.anthropic)
            stopped: set[int] = set()
            for event in anthropic_events(r.content):
                if event["type"] == "content_block_delta":
                    assert event["index"] not in stopped, "a delta after its block stopped"
                elif event["type"] == "content_block_stop":
                    stopped.add(event["index"])

            async with claude.messages.stream(
                model="oa-raw", max_tokens=100, messages=ask["messages"], tools=ask["tools"]
            ) as stream:
                message = await stream.get_final_message()
            calls = [b for b in message.content if b.type == "tool_use"]
            texts = [b.text for b in message.content if b.type == "text"]
            assert [c.input for c in calls] == [{"city": "Paris"}]
            assert texts == ["Checking the weather."]

            streamed = await gpt.responses.create(
                model="oa-raw", input="Weather in Paris?", tools=[TOOL], stream=True,  # type: ignore[list-item]
            )  # fmt: skip
            final = None
            async for event in streamed:
                if event.type == "response.completed":
                    final = event.response
            assert final is not None
            got = [json.loads(o.arguments) for o in final.output if o.type == "function_call"]
            assert got == [{"city": "Paris"}]
            assert final.output_text == "Checking the weather."

    asyncio.run(main())
