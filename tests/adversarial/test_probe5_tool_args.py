"""Outside probe: an OpenAI-protocol model whose tool call `arguments` are not a JSON object
(broken JSON, a Python repr, a JSON array), read by the anthropic SDK (translated).

The answer gave `{"_raw": <the text>}` as the tool_use input, but the stream passed the text
through as input_json_delta fragments, which the SDK's stream accumulator parses as JSON: it
raised mid-stream on broken JSON (the whole answer lost) and gave a list as `input` for an
array. Both modes now give `{"_raw": <the text>}`, the one form the SDK parses in both: a
translated stream holds a tool call's argument fragments to the end of its block and sends
them as one input_json_delta (anthropic_stream.StreamEncoder). Valid arguments are unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types import Message

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _chunk
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, with_openai_mock

USER = [{"role": "user", "content": "Weather in Paris?"}]
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
ARGUMENTS = {
    "broken": '{"city": "Par',
    "python-repr": "{'city': 'Paris'}",
    "array": '["Paris", "celsius"]',
    "valid": '{"city": "Paris", "unit": "celsius"}',
}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _stream(arguments: str) -> bytes:
    """The call's arguments in three fragments, as OpenAI streams them."""
    third = max(len(arguments) // 3, 1)
    pieces = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
    first = {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}  # fmt: skip
    calls = [first] + [{"index": 0, "function": {"arguments": p}} for p in pieces]
    return (
        b"".join(
            _chunk(choices=[{"index": 0, "delta": {"tool_calls": [c]}, "finish_reason": None}])
            for c in calls
        )
        + _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        + _chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2})
        + b"data: [DONE]\n\n"
    )


@pytest.mark.parametrize("case", list(ARGUMENTS))
def test_tool_arguments_are_the_same_input_streamed_or_not(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    arguments = ARGUMENTS[case]
    expected = orjson.loads(arguments) if case == "valid" else {"_raw": arguments}
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": arguments}}  # fmt: skip
    mock.openai_reply = completion({"content": None, "tool_calls": [call]}, finish="tool_calls")
    mock.replay_body = _stream(arguments)

    def replay(text: str) -> str:
        return with_openai_mock(mock)(text).replace('"openai-reply"', '"replay"')

    request: Any = {"model": GPT, "max_tokens": 50, "messages": USER, "tools": TOOLS}

    async def ask(name: str, stream: bool) -> Message:
        edit = replay if stream else with_openai_mock(mock)
        async with sidecar_in_process(tmp_path / name, edit_config=edit) as sc, sdks(sc) as sdk:
            if not stream:
                return await sdk[0].messages.create(**request)
            async with sdk[0].messages.stream(**request) as events:
                return await events.get_final_message()

    async def main() -> None:
        answer, message = await ask("answer", False), await ask("stream", True)
        for got in (answer, message):
            [block] = got.content
            assert block.type == "tool_use" and block.input == expected, block
            assert got.stop_reason == "tool_use"

    asyncio.run(main())
