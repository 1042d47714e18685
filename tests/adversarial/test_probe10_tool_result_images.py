"""Outside probe (tenth session): an Anthropic client's `tool_result` holding an image (a
computer-use agent's screenshot) made every OpenAI-protocol model ineligible ("images inside a
tool_result"): a pool of OpenAI vision models answered 400 "No model in the pool can serve this
request". OpenAI's `tool` message holds text only; the Chat Completions encoding already carries
a Responses client's `function_call_output` images (the `tool` message with the text, then a
user message with the images, named by their call), and now an Anthropic client's are carried
the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.adversarial.test_probe5_image_data import PNG, _vision
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import completion, text

SHOT = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
TOOLS: Any = [{"name": "screenshot", "input_schema": {"type": "object"}}]
MESSAGES: Any = [
    {"role": "user", "content": "What is on the screen?"},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "text", "text": "captured"}, SHOT]},
    ]},
]  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_an_openai_vision_model_answers_a_tool_result_image(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_vision) as sc, sdks(sc) as (claude, _):
            for model in ("auto", "sim-small"):  # the sim pool speaks OpenAI's protocol only
                answer = await claude.messages.with_raw_response.create(
                    model=model, max_tokens=64, tools=TOOLS, messages=MESSAGES
                )
                assert answer.headers["x-arbiter-model"].startswith("sim-"), answer.headers
                message = await answer.parse()
                assert message.content and message.stop_reason == "end_turn", message

    asyncio.run(main())


def test_the_image_follows_the_tool_message(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.openai_reply = completion(text("A red dot."))
    mocked = with_mock(mock, "openai", "openai-reply")

    def edit(config: str) -> str:
        return mocked(config).replace('["chat", "no-route"]', '["chat", "no-route", "vision"]')

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="up-mock", max_tokens=64, tools=TOOLS, messages=MESSAGES
            )
            assert answer.content[0].type == "text" and answer.content[0].text == "A red dot."
            sent = mock.requests[-1][1]["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"], sent
            assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "captured"}
            parts = sent[3]["content"]
            url = f"data:image/png;base64,{PNG}"
            assert {"type": "image_url", "image_url": {"url": url}} in parts, parts
            assert any(p["type"] == "text" and "toolu_1" in p["text"] for p in parts), parts

    asyncio.run(main())
