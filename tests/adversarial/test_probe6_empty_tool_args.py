"""Outside probe: an Anthropic-protocol model calls a tool that takes no arguments, streamed to
an OpenAI client (Chat Completions or the Responses API). Anthropic streams such a call as
content_block_start with `input: {}` and at most one input_json_delta whose partial_json is
"" (the documented stream for an empty input); the OpenAI stream encoders relayed only the
fragments, so the call's `arguments` came out "" where the same answer whole says "{}": every
`json.loads(arguments)` in an agent loop raised on the streamed answer. A tool block that ends
with no argument text now gets "{}", the arguments the whole answer gives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.anthropic_mock import AnthropicMock, frame
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

START = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1},
}  # fmt: skip
TOOL = {"type": "tool_use", "id": "toolu_1", "name": "current_time", "input": {}}


def _stream(empty_delta: bool) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": ""}
    return b"".join([
        frame("message_start", {"type": "message_start", "message": START}),
        frame("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": TOOL}),
        *([frame("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": delta})] if empty_delta else []),
        frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        frame("message_delta", {"type": "message_delta", "usage": {"output_tokens": 7},
                                "delta": {"stop_reason": "tool_use", "stop_sequence": None}}),
        frame("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("empty_delta", [True, False])
def test_a_streamed_call_without_arguments_has_arguments_braces(
    tmp_path: Path, mock: AnthropicMock, empty_delta: bool
) -> None:
    mock.replay_body = _stream(empty_delta)
    params = {"type": "object"}
    chat_tool: Any = {
        "type": "function",
        "function": {"name": "current_time", "parameters": params},
    }
    responses_tool: Any = {"type": "function", "name": "current_time", "parameters": params}

    async def main() -> None:
        edit = with_mock(mock, "anthropic", "replay")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            user: Any = [{"role": "user", "content": "What time is it?"}]
            async with gpt.chat.completions.stream(
                model="up-mock", messages=user, tools=[chat_tool]
            ) as chat:
                completion = await chat.get_final_completion()
            [call] = completion.choices[0].message.tool_calls or []
            assert call.type == "function" and call.function.name == "current_time"
            assert json.loads(call.function.arguments) == {}, call
            assert completion.choices[0].finish_reason == "tool_calls"

            async with gpt.responses.stream(
                model="up-mock", input="What time is it?", tools=[responses_tool]
            ) as events:
                done = [
                    e async for e in events if e.type == "response.function_call_arguments.done"
                ]
                response = await events.get_final_response()
            assert [e.arguments for e in done] == ["{}"]
            [item] = response.output
            assert item.type == "function_call" and json.loads(item.arguments) == {}, item

    asyncio.run(main())
