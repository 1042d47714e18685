"""Outside probe: an OpenAI-protocol model whose tool call `arguments` is JSON nested 300 levels
deep (a runaway model, a hostile upstream). Rendered for an Anthropic client, the arguments are
parsed into the tool_use `input`; orjson reads 1,024 levels but writes only 255, so writing the
answer raised and the client got an unhandled 500. Arguments that cannot be written as an
object are kept whole under `_raw`, as broken JSON already was (the Anthropic-upstream side of
the same problem is a 502: tool_use input nested too deeply)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from anthropic.types import Message

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, with_openai_mock

USER = [{"role": "user", "content": "q"}]
ANTHROPIC_TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]
RESPONSES_TOOLS = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def nested(depth: int) -> str:
    """An object `depth` levels deep, as JSON text (deeper than orjson itself writes)."""
    return '{"a":' * depth + '"x"' + "}" * depth


# 250-254: just under orjson's write limit, where an answer's content holds 251 (tenth session)
@pytest.mark.parametrize("depth", [3, 250, 251, 252, 254, 300])
def test_deep_tool_arguments_reach_an_anthropic_client(
    tmp_path: Path, mock: AnthropicMock, depth: int
) -> None:
    arguments = nested(depth)
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    mock.openai_reply = completion({"content": None, "tool_calls": [call]}, finish="tool_calls")

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc:
            body = {"model": GPT, "max_tokens": 50, "messages": [{"role": "user", "content": "q"}],
                    "tools": [{"name": "f", "input_schema": {"type": "object"}}]}  # fmt: skip
            r = await sc.client.post("/v1/messages", json=body, headers=sc.anthropic)
            assert r.status_code == 200, r.text
            [block] = Message.model_validate(r.json()).content
            assert block.type == "tool_use"
            assert block.input == (orjson.loads(arguments) if depth <= 251 else {"_raw": arguments})

    asyncio.run(main())


@pytest.mark.parametrize("surface", ["messages", "responses"])
def test_tool_arguments_sent_as_an_object_cross_as_json(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    """Some OpenAI-compatible servers send `arguments` as an object, not a string. Translated
    for an Anthropic or Responses client they became a Python repr ("{'city': 'Paris'}"): the
    Anthropic client got {"_raw": "{'city': 'Paris'}"}, the Responses one arguments no JSON
    parser reads."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": {"city": "Paris"}}}  # fmt: skip
    mock.openai_reply = completion({"content": None, "tool_calls": [call]}, finish="tool_calls")

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc:
            if surface == "messages":
                body = {"model": GPT, "max_tokens": 50, "messages": USER, "tools": ANTHROPIC_TOOLS}
                r = await sc.client.post("/v1/messages", json=body, headers=sc.anthropic)
                assert r.status_code == 200, r.text
                assert r.json()["content"][0]["input"] == {"city": "Paris"}
            else:
                body = {"model": GPT, "input": "q", "tools": RESPONSES_TOOLS}
                r = await sc.client.post("/v1/responses", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text
                [item] = [o for o in r.json()["output"] if o["type"] == "function_call"]
                assert orjson.loads(item["arguments"]) == {"city": "Paris"}

    asyncio.run(main())


def test_streamed_tool_arguments_sent_as_an_object_are_not_lost(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """The same in a stream: a tool call delta whose `arguments` is an object was skipped, so
    an Anthropic client got the tool_use with an empty input, in a stream that ended well."""

    def chunk(**fields: object) -> bytes:
        base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return b"data: " + orjson.dumps({**base, **fields}) + b"\n\n"

    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": {"city": "Paris"}}}  # fmt: skip
    delta = {"role": "assistant", "content": None, "tool_calls": [call]}
    mock.replay_body = (
        chunk(choices=[{"index": 0, "delta": delta, "finish_reason": None}])
        + chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}])
        + chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2})
        + b"data: [DONE]\n\n"
    )

    def replay(text: str) -> str:
        return with_openai_mock(mock)(text).replace('"openai-reply"', '"replay"')

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=replay) as sc:
            body = {"model": GPT, "max_tokens": 50, "messages": USER, "tools": ANTHROPIC_TOOLS}
            async with sdks(sc) as (claude, _), claude.messages.stream(**body) as events:  # type: ignore[arg-type]
                message = await events.get_final_message()
            [block] = message.content
            assert block.type == "tool_use" and block.input == {"city": "Paris"}

    asyncio.run(main())
