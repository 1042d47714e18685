"""Same-protocol relays (mends18a): an upstream answer without an id reached a client of its own
protocol as it came: a chat client's chunks and completion said `"id": ""` or had none (the
openai SDK's `ChatCompletion.id` is then "" or missing), an Anthropic client's message_start and
message `"id": ""`; the translations already gave the decision's (mends17a). A relayed answer
now gets the decision's id too (`chatcmpl-dec_...`, `msg_dec_...`, `cmpl-dec_...`), streamed
or not; an upstream's own id is kept. Read through the official SDKs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import raw_sidecar
from tests.adversarial.test_mends17a_empty_upstream_ids import (
    ANTHROPIC_JSON,
    ANTHROPIC_SSE,
    OPENAI_JSON,
    OPENAI_SSE,
)

pytestmark = pytest.mark.timeout(90)

ASK: Any = [{"role": "user", "content": "Hello"}]
LEGACY_CHUNKS = [
    {"object": "text_completion", "created": 1, "model": "oa-raw",
     "choices": [{"index": 0, "text": "Hi", "logprobs": None, "finish_reason": None}]},
    {"id": "", "object": "text_completion", "created": 1, "model": "oa-raw",
     "choices": [{"index": 0, "text": "!", "logprobs": None, "finish_reason": "stop"}]},
]  # fmt: skip
LEGACY_SSE = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in LEGACY_CHUNKS) + (
    b"data: [DONE]\n\n"
)
LEGACY_JSON = orjson.dumps({
    "id": "", "object": "text_completion", "created": 1, "model": "oa-raw",
    "choices": [{"index": 0, "text": "Hi!", "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
})  # fmt: skip


def test_a_chat_client_gets_the_decisions_id_from_an_openai_upstream_without_one(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "openai", OPENAI_SSE, OPENAI_JSON) as (_, gpt):
            stream = await gpt.chat.completions.with_raw_response.create(
                model="oa-raw", messages=ASK, stream=True
            )
            decision = stream.headers["x-arbiter-decision-id"]
            ids = {chunk.id async for chunk in stream.parse()}
            assert ids == {"chatcmpl-" + decision}, ids  # every chunk: one id, never ""
            whole = await gpt.chat.completions.with_raw_response.create(
                model="oa-raw", messages=ASK
            )
            decision = whole.headers["x-arbiter-decision-id"]
            assert whole.parse().id == "chatcmpl-" + decision
            assert whole.parse().choices[0].message.content == "Hi"

    asyncio.run(main())


def test_an_anthropic_client_gets_the_decisions_id_from_an_anthropic_upstream_without_one(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "anthropic", ANTHROPIC_SSE, ANTHROPIC_JSON) as (claude, _):
            async with claude.messages.stream(
                model="an-raw", max_tokens=50, messages=ASK
            ) as stream:
                message = await stream.get_final_message()
            assert message.id.startswith("msg_dec_"), message.id
            assert message.content[0].type == "text" and message.content[0].text == "Hi"
            whole = await claude.messages.with_raw_response.create(
                model="an-raw", max_tokens=50, messages=ASK
            )
            parsed = await whole.parse()
            assert parsed.id == "msg_" + whole.headers["x-arbiter-decision-id"]

    asyncio.run(main())


def test_a_completions_client_gets_the_decisions_id_from_an_upstream_without_one(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with raw_sidecar(tmp_path, "openai", LEGACY_SSE, LEGACY_JSON) as (_, gpt):
            stream = await gpt.completions.with_raw_response.create(
                model="oa-raw", prompt="Hello", stream=True
            )
            decision = stream.headers["x-arbiter-decision-id"]
            chunks = [chunk async for chunk in stream.parse()]
            assert {c.id for c in chunks} == {"cmpl-" + decision}
            assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hi!"
            whole = await gpt.completions.with_raw_response.create(model="oa-raw", prompt="Hi")
            assert whole.parse().id == "cmpl-" + whole.headers["x-arbiter-decision-id"]

    asyncio.run(main())


def test_an_upstreams_own_id_is_kept() -> None:
    """Only a missing or empty id is replaced: the upstream's is what its logs name."""
    from arbiter.relay_codec import OpenAIPassThrough

    codec = OpenAIPassThrough("m", include_usage=False, fallback_id="chatcmpl-dec_1")
    first = codec.feed(orjson.dumps({"id": "chatcmpl-up", "choices": [{"index": 0,
                                     "delta": {"content": "a"}}]}))  # fmt: skip
    second = codec.feed(orjson.dumps({"choices": [{"index": 0, "delta": {"content": "b"}}]}))
    assert b'"chatcmpl-up"' in first and b'"id":"chatcmpl-up"' in second
