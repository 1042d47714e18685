"""Outside probe (seventeenth session): an OpenAI-protocol upstream that streams two tool calls
with their fragments interleaved (call 1 begins, then the rest of call 0's arguments: OpenAI
addresses every fragment by `index`, so the order is the server's), read by a client of another
protocol. The decoder closed call 0's block when call 1 began, so an Anthropic client got call
0's input as `{"_raw": "{\\"ci"}` (the fragment seen by then) and then a content_block_delta
for block 0 after its content_block_stop; the Responses API's function_call item had the cut
arguments too. Now a call that begins while another streams is held and sent whole once the
live block ends, so every call's arguments arrive complete, each block in order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _chunk, _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import anthropic_events, sdks

USER = [{"role": "user", "content": "Weather and time in Paris?"}]
TOOLS = [
    {"name": "get_weather", "input_schema": {"type": "object"}},
    {"name": "get_time", "input_schema": {"type": "object"}},
]
WANTED = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]


def _calls(*calls: dict[str, Any], finish: str | None = None) -> bytes:
    return _chunk(
        choices=[{"index": 0, "delta": {"tool_calls": list(calls)}, "finish_reason": finish}]
    )


def _start(index: int, call_id: str, name: str) -> dict[str, Any]:
    fn = {"name": name, "arguments": ""}
    return {"index": index, "id": call_id, "type": "function", "function": fn}


def _args(index: int, text: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": text}}


INTERLEAVED = (
    _chunk(choices=[{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
    + _calls(_start(0, "call_a", "get_weather"))
    + _calls(_args(0, '{"ci'))
    + _calls(_start(1, "call_b", "get_time"))
    + _calls(_args(1, '{"tz":'))
    + _calls(_args(0, 'ty":"Paris"}'))  # call 0 goes on after call 1 began
    + _calls(_args(1, '"CET"}'))
    + _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
    + _chunk(choices=[], usage={"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19})
    + b"data: [DONE]\n\n"
)
# the usual order (each call whole before the next begins) still arrives the same
SEQUENTIAL = (
    _chunk(choices=[{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])
    + _calls(_start(0, "call_a", "get_weather"))
    + _calls(_args(0, '{"ci'))
    + _calls(_args(0, 'ty":"Paris"}'))
    + _calls(_start(1, "call_b", "get_time"))
    + _calls(_args(1, '{"tz":"CET"}'))
    + _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
    + b"data: [DONE]\n\n"
)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("body", [INTERLEAVED, SEQUENTIAL], ids=["interleaved", "sequential"])
def test_interleaved_tool_call_fragments_reach_an_anthropic_client_whole(
    tmp_path: Path, mock: AnthropicMock, body: bytes
) -> None:
    mock.replay_body = body

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_with_mock(mock, "openai")) as sc,
            sdks(sc) as (claude, _),
        ):
            request = {"model": "oa-mock", "max_tokens": 100, "messages": USER, "tools": TOOLS}
            r = await sc.client.post(
                "/v1/messages", headers=sc.anthropic, json={**request, "stream": True}
            )
            assert r.status_code == 200, r.text
            stopped: set[int] = set()
            for event in anthropic_events(r.content):  # each one valid by the SDK's types
                if "index" in event:
                    assert event["index"] not in stopped, (
                        f"an event after its block's stop: {event}"
                    )
                if event["type"] == "content_block_stop":
                    stopped.add(event["index"])
            async with claude.messages.stream(**request) as stream:  # type: ignore[arg-type]
                final = await stream.get_final_message()
            got = [(b.name, b.input) for b in final.content if b.type == "tool_use"]
            assert got == WANTED, got
            assert final.stop_reason == "tool_use"

    asyncio.run(main())


def test_interleaved_tool_call_fragments_reach_a_responses_client_whole(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.replay_body = INTERLEAVED

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_with_mock(mock, "openai")) as sc,
            sdks(sc) as (_, gpt),
        ):
            tools: Any = [
                {"type": "function", "name": t["name"], "parameters": t["input_schema"]}
                for t in TOOLS
            ]
            stream = await gpt.responses.create(
                model="oa-mock", input="Weather and time in Paris?", tools=tools, stream=True
            )
            final = None
            async for event in stream:
                if event.type == "response.completed":
                    final = event.response
            assert final is not None
            got = [
                (item.name, orjson.loads(item.arguments))
                for item in final.output
                if item.type == "function_call"
            ]
            assert got == WANTED, got

    asyncio.run(main())
