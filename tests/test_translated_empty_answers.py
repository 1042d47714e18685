"""An Anthropic upstream's answer that shows nothing before a tool call (an empty text block
first) or nothing at all (`content: []`, which Claude does return at times after a tool
result), streamed to an OpenAI client, reads as the whole answer of the same upstream answer:
chat's `content` null before a call ("" for an empty answer) through the SDK's accumulator, and
the Responses stream's output holds the empty message item the whole Response has (it held no
item at all)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from tests.adversarial.hostile_upstream import raw_sidecar

pytestmark = pytest.mark.timeout(90)

_USAGE = {"input_tokens": 3, "output_tokens": 1}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}


def _answer(blocks: list[dict[str, Any]], stop: str) -> tuple[bytes, bytes]:
    """The Anthropic stream and whole message of one answer."""
    start = {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "an-raw", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": _USAGE}}  # fmt: skip
    events: list[dict[str, Any]] = [start]
    for i, block in enumerate(blocks):
        opened = {**block, "input": {}} if block["type"] == "tool_use" else block
        if block["type"] == "text":
            opened = {**block, "text": ""}
        elif block["type"] == "thinking":
            opened = {**block, "thinking": "", "signature": ""}
        events.append({"type": "content_block_start", "index": i, "content_block": opened})
        deltas: list[dict[str, Any]] = []
        if block["type"] == "text":
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif block["type"] == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]  # fmt: skip
        for delta in deltas:
            events.append({"type": "content_block_delta", "index": i, "delta": delta})
        events.append({"type": "content_block_stop", "index": i})
    events += [
        {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
         "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    ]  # fmt: skip
    sse = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )
    whole = orjson.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "an-raw",
        "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": _USAGE,
    })  # fmt: skip
    return sse, whole


ASK: Any = [{"role": "user", "content": "Weather?"}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def _chat(tmp_path: Path, blocks: list[dict[str, Any]], stop: str) -> tuple[Any, Any, Any]:
    """(first streamed delta, the SDK's accumulated message, the whole answer's message)."""

    async def main() -> tuple[Any, Any, Any]:
        async with raw_sidecar(tmp_path, "anthropic", *_answer(blocks, stop)) as (_, gpt):
            kw: Any = {"model": "an-raw", "messages": ASK, "tools": TOOLS}
            stream = await gpt.chat.completions.create(**kw, stream=True)
            chunks = [c async for c in stream]
            whole = await gpt.chat.completions.create(**kw)
        state = ChatCompletionStreamState()
        for chunk in chunks:
            state.handle_chunk(chunk)
        streamed = state.get_final_completion().choices[0].message
        return chunks[0].choices[0].delta, streamed, whole.choices[0].message

    return asyncio.run(main())


def test_an_empty_text_block_before_a_call_streams_content_null(tmp_path: Path) -> None:
    first, streamed, whole = _chat(tmp_path, [{"type": "text", "text": ""}, CALL], "tool_use")
    assert whole.content is None
    assert first.role == "assistant" and first.content is None
    assert streamed.content is None
    assert [c.function.name for c in streamed.tool_calls or ()] == ["get_weather"]


def test_an_empty_answer_streams_empty_text(tmp_path: Path) -> None:
    first, streamed, whole = _chat(tmp_path, [], "end_turn")
    assert whole.content == "" and first.content == "" and streamed.content == ""


THOUGHT = {"type": "thinking", "thinking": "Hmm.", "signature": "sig"}


@pytest.mark.parametrize(
    ("blocks", "stop", "items"),
    [
        ([], "end_turn", [("message", "completed")]),
        # thinking cut by max_tokens: the reasoning item is done, the empty message is the cut one
        ([THOUGHT], "max_tokens", [("reasoning", "completed"), ("message", "incomplete")]),
    ],
)
def test_an_answer_without_text_or_call_streams_the_whole_responses_empty_message(
    tmp_path: Path, blocks: list[dict[str, Any]], stop: str, items: list[tuple[str, str]]
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "anthropic", *_answer(blocks, stop)) as (_, gpt):
            kinds, streamed = [], None
            async with gpt.responses.stream(model="an-raw", input="Hello") as stream:
                async for event in stream:
                    kinds.append(event.type)
                    if event.type in ("response.completed", "response.incomplete"):
                        streamed = event.response  # (the SDK's final needs `completed`)
            whole = await gpt.responses.create(model="an-raw", input="Hello")
        assert streamed is not None
        assert [(o.type, o.status) for o in whole.output] == items
        assert [(o.type, o.status) for o in streamed.output] == items
        assert streamed.status == whole.status
        said, shown = whole.output[-1], streamed.output[-1]  # the message
        assert said.type == shown.type == "message"
        parts = [[(c.type, c.text, c.annotations) for c in m.content] for m in (shown, said)]  # type: ignore[union-attr]
        assert parts[0] == parts[1] == [("output_text", "", [])]
        assert shown.role == said.role == "assistant"  # type: ignore[union-attr]
        assert streamed.output_text == whole.output_text == ""
        # the item streamed as OpenAI streams a message: added, part, text done, part, done
        assert "response.output_item.added" in kinds and "response.output_text.done" in kinds

    asyncio.run(main())
