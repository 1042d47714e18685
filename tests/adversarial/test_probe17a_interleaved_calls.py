"""Outside probe (seventeenth session): an OpenAI-protocol upstream streaming two parallel tool
calls whose argument fragments interleave (each names its `index`, which the protocol allows).
Translated for the Responses API the first call's arguments were lost: its item was closed when
the second call began and its later fragments dropped, so the official SDK's final Response said
`get_weather({})`. Translated for an Anthropic client its fragments came after its
content_block_stop. Now a call that begins while another is open is held until that one ends:
every call keeps its arguments, and blocks (items) stay one after another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.canonical import BlockStart, BlockStop, ToolArgsDelta
from arbiter.protocols.openai_stream import StreamDecoder
from tests.adversarial.hostile_upstream import scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import anthropic_events, openai_chunks, sdks

pytestmark = pytest.mark.timeout(90)


def _chunk(choice: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw",
            "choices": [{"index": 0, "finish_reason": None, **choice}]}  # fmt: skip


def _calls(*calls: dict[str, Any]) -> dict[str, Any]:
    return _chunk({"delta": {"tool_calls": list(calls)}})


def _args(index: int, text: str) -> dict[str, Any]:
    return _calls({"index": index, "function": {"arguments": text}})


CHUNKS = [
    _calls({"index": 0, "id": "call_a", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}),
    _calls({"index": 1, "id": "call_b", "type": "function",
            "function": {"name": "get_time", "arguments": ""}}),
    _args(0, '{"city":"Par'), _args(1, '{"tz":"'), _args(0, 'is"}'), _args(1, 'Europe/Paris"}'),
    _chunk({"delta": {}, "finish_reason": "tool_calls"}),
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw", "choices": [],
     "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}},
]  # fmt: skip
WANT = {"get_weather": {"city": "Paris"}, "get_time": {"tz": "Europe/Paris"}}
SSE = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS) + b"data: [DONE]\n\n"
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}},
]


# an emoji's UTF-16 halves (as a JavaScript server escapes them) cut apart in call 0's
# arguments, with a fragment of call 1 between them
SPLIT = (
    b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS[:2])
    + b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"oa-raw","choices"'
    b':[{"index":0,"finish_reason":null,"delta":{"tool_calls":[{"index":0,"function":'
    b'{"arguments":"{\\"city\\":\\"Paris \\ud83d"}}]}}]}\n\n'
    + b"data: "
    + orjson.dumps(_args(1, '{"tz":"Europe/Paris"}'))
    + b"\n\n"
    + b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"oa-raw","choices"'
    b':[{"index":0,"finish_reason":null,"delta":{"tool_calls":[{"index":0,"function":'
    b'{"arguments":"\\ude00\\"}"}}]}}]}\n\n'
    + b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS[-2:])
    + b"data: [DONE]\n\n"
)


def _answering(sse: bytes) -> Callable[[asyncio.StreamWriter], Awaitable[None]]:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"content-length: %d\r\n\r\n" % len(sse) + sse
        )

    return answer


_answer = _answering(SSE)


def test_the_decoder_keeps_each_interleaved_calls_arguments_in_its_own_block() -> None:
    decoder = StreamDecoder("oa-raw")
    events = [e for c in CHUNKS for e in decoder.feed(orjson.dumps(c))] + decoder.finish()
    open_blocks: set[int] = set()
    names: dict[int, str] = {}
    text: dict[int, str] = {}
    for event in events:
        if isinstance(event, BlockStart):
            assert not open_blocks, "blocks are one after another"
            open_blocks.add(event.index)
            names[event.index] = event.name or ""
        elif isinstance(event, ToolArgsDelta):
            assert event.index in open_blocks, "no fragment for a closed block"
            text[event.index] = text.get(event.index, "") + event.partial_json
        elif isinstance(event, BlockStop):
            open_blocks.discard(event.index)
    assert {names[i]: json.loads(t) for i, t in text.items()} == WANT


def test_responses_and_anthropic_clients_get_both_calls_whole(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            scripted_upstream(_answer) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
            sdks(sc) as (_, gpt),
        ):
            stream = await gpt.responses.create(
                model="oa-raw", input="Weather and time in Paris?", tools=TOOLS, stream=True,  # type: ignore[arg-type]
            )  # fmt: skip
            final = None
            async for event in stream:
                if event.type == "response.completed":
                    final = event.response
            assert final is not None
            calls = [o for o in final.output if o.type == "function_call"]
            got = {o.name: json.loads(o.arguments) for o in calls}
            assert got == WANT

            r = await sc.client.post(
                "/v1/messages",
                json={"model": "oa-raw", "max_tokens": 100, "stream": True,
                      "messages": [{"role": "user", "content": "Weather and time in Paris?"}],
                      "tools": [{"name": t["name"], "input_schema": t["parameters"]}
                                for t in TOOLS]},
                headers=sc.anthropic,
            )  # fmt: skip
            stopped: set[int] = set()
            names: dict[int, str] = {}
            partial: dict[int, str] = {}
            for event in anthropic_events(r.content):
                if event["type"] == "content_block_start":
                    names[event["index"]] = event["content_block"]["name"]
                elif event["type"] == "content_block_delta":
                    assert event["index"] not in stopped, "a delta after its block stopped"
                    partial[event["index"]] = (
                        partial.get(event["index"], "") + event["delta"]["partial_json"]
                    )
                elif event["type"] == "content_block_stop":
                    stopped.add(event["index"])
            assert {names[i]: json.loads(t) for i, t in partial.items()} == WANT

    asyncio.run(main())


def test_a_character_cut_between_interleaved_calls_is_joined(tmp_path: Path) -> None:
    """The same-protocol relay joins an emoji's halves across a chunk of another call (they
    were both U+FFFD: that chunk was read as ending the string the first half waits in)."""

    async def main() -> None:
        async with (
            scripted_upstream(_answering(SPLIT)) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
        ):
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "oa-raw", "stream": True, "tools": [
                    {"type": "function", "function": t} for t in
                    ({"name": "get_weather"}, {"name": "get_time"})],
                      "messages": [{"role": "user", "content": "Weather and time in Paris?"}]},
                headers=sc.auth,
            )  # fmt: skip
            chunks, done = openai_chunks(r.content)
            assert done
            args: dict[int, str] = {}
            for chunk in chunks:
                for choice in chunk["choices"]:
                    for call in choice["delta"].get("tool_calls") or ():
                        text = call.get("function", {}).get("arguments") or ""
                        args[call["index"]] = args.get(call["index"], "") + text
            got = {i: json.loads(text) for i, text in args.items()}
            assert got == {0: {"city": "Paris \U0001f600"}, 1: {"tz": "Europe/Paris"}}

    asyncio.run(main())
