"""Probes (seventeenth session): an upstream whose answer carries no id (an OpenAI-compatible
server's chunks without `id`, an Anthropic message_start without one) gave a client of the other
protocol a bare prefix: an Anthropic client's message_start said `"id": "msg_"`, a chat
client's chunks `"chatcmpl-"`, the same on every such request. The translated answer now takes
the decision's id, as the Responses API's ids already do (checked here in the same case)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import raw_sidecar

pytestmark = pytest.mark.timeout(90)

CHUNKS: list[dict[str, Any]] = [
    {
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "oa-raw",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}
        ],
    },
    {
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "oa-raw",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    },
]  # fmt: skip  (no `id` anywhere)
OPENAI_SSE = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in CHUNKS) + b"data: [DONE]\n\n"
OPENAI_JSON = orjson.dumps({
    "object": "chat.completion", "created": 1, "model": "oa-raw",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
})  # fmt: skip
_USAGE = {"input_tokens": 3, "output_tokens": 1}
ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {
        "id": "", "type": "message", "role": "assistant", "model": "an-raw", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": _USAGE}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 1}},
    {"type": "message_stop"},
]  # fmt: skip
ANTHROPIC_SSE = b"".join(
    b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
    for e in ANTHROPIC_EVENTS
)
ANTHROPIC_JSON = orjson.dumps({
    "id": "", "type": "message", "role": "assistant", "model": "an-raw",
    "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": _USAGE,
})  # fmt: skip


def test_an_anthropic_client_gets_the_decisions_id_when_the_openai_upstream_sends_none(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "openai", OPENAI_SSE, OPENAI_JSON) as (claude, gpt):
            ask: Any = [{"role": "user", "content": "Hello"}]
            async with claude.messages.stream(
                model="oa-raw", max_tokens=50, messages=ask
            ) as stream:
                message = await stream.get_final_message()
            assert message.id != "msg_" and message.id.startswith("msg_dec_"), message.id
            whole = await claude.messages.with_raw_response.create(
                model="oa-raw", max_tokens=50, messages=ask
            )
            parsed = await whole.parse()
            decision = whole.headers["x-arbiter-decision-id"]
            assert parsed.id == "msg_" + decision
            assert message.id != parsed.id  # each its own request's

            # the Responses API in the same case: its ids are the decision's already
            streamed = await gpt.responses.create(model="oa-raw", input="Hello", stream=True)
            ids = {e.response.id async for e in streamed if e.type == "response.completed"}
            assert len(ids) == 1 and ids.pop().startswith("resp_dec_")
            response = await gpt.responses.create(model="oa-raw", input="Hello")
            assert response.id.startswith("resp_dec_")

    asyncio.run(main())


def test_a_chat_client_gets_the_decisions_id_when_the_anthropic_upstream_sends_none(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "anthropic", ANTHROPIC_SSE, ANTHROPIC_JSON) as (_, gpt):
            ask: Any = [{"role": "user", "content": "Hello"}]
            stream = await gpt.chat.completions.create(model="an-raw", messages=ask, stream=True)
            ids = {chunk.id async for chunk in stream}
            assert len(ids) == 1
            streamed = ids.pop()
            assert streamed != "chatcmpl-" and streamed.startswith("chatcmpl-dec_"), streamed
            whole = await gpt.chat.completions.with_raw_response.create(
                model="an-raw", messages=ask
            )
            decision = whole.headers["x-arbiter-decision-id"]
            assert whole.parse().id == "chatcmpl-" + decision

    asyncio.run(main())
