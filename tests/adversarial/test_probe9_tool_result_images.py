"""Outside probe (ninth session): images inside a tool's result (a computer-use agent's
screenshot), on the two surfaces that take them.

- /v1/responses with a `function_call_output` whose `output` holds an `input_image`, answered
  by an OpenAI-protocol model: the Chat Completions body sent upstream carried the result as a
  `tool` message of its text only (a `tool` message holds text), so the model never saw the
  image and answered 200 as if it had. The images now follow the `tool` messages in a user
  message that names their call.
- /v1/messages/count_tokens (and the budget's worst case, counted from the same OpenAI view)
  counted a tool_result's image as nothing: a screenshot in a tool_result added 0 tokens where
  the same image in a user turn adds `budgets.image_tokens`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.image_rules import ImageSpec
from arbiter.media import image_size
from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.adversarial.test_probe5_image_data import PNG
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import completion, text

DATA_URL = f"data:image/png;base64,{PNG}"
TOOLS: Any = [{"type": "function", "name": "screenshot", "parameters": {"type": "object"}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_a_function_call_output_image_reaches_an_openai_model(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = completion(text("A red dot."))

    async def main() -> None:
        edit = with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            answer = await gpt.responses.create(
                model="up-mock",
                tools=TOOLS,
                input=[
                    {"role": "user", "content": "What is on the screen?"},
                    {"type": "function_call", "call_id": "c1", "name": "screenshot",
                     "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": [
                        {"type": "input_text", "text": "captured"},
                        {"type": "input_image", "image_url": DATA_URL},
                    ]},
                ],
            )  # fmt: skip
            assert answer.output_text == "A red dot."
            sent = mock.requests[-1][1]["messages"]
            roles = [m["role"] for m in sent]
            assert roles == ["user", "assistant", "tool", "user"], sent
            assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "captured"}
            parts = sent[3]["content"]
            assert {"type": "image_url", "image_url": {"url": DATA_URL}} in parts, parts
            assert any(p["type"] == "text" and "c1" in p["text"] for p in parts), parts

    asyncio.run(main())


def test_count_tokens_counts_a_tool_result_image(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:

            async def count(result: list[dict[str, Any]]) -> int:
                body = {
                    "model": "sim-small",
                    "tools": [{"name": "screenshot", "input_schema": {"type": "object"}}],
                    "messages": [
                        {"role": "user", "content": "What is on the screen?"},
                        {"role": "assistant", "content": [
                            {"type": "tool_use", "id": "t1", "name": "screenshot", "input": {}},
                        ]},
                        {"role": "user", "content": [
                            {"type": "tool_result", "tool_use_id": "t1", "content": result},
                        ]},
                    ],
                }  # fmt: skip
                r = await sc.client.post(
                    "/v1/messages/count_tokens", json=body, headers=sc.anthropic
                )
                assert r.status_code == 200, r.text
                return int(r.json()["input_tokens"])

            shot = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                               "data": PNG}}  # fmt: skip
            words = [{"type": "text", "text": "captured"}]
            with_image = await count([*words, shot])
            rule = sc.services.registry["sim-small"].image_rule  # the named model's
            size = image_size(f"data:image/png;base64,{PNG}")  # its header's: the bound's size
            assert size is not None
            assert with_image - await count(words) >= rule.bound(ImageSpec(*size)) > 0

    asyncio.run(main())
