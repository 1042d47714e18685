"""`strict` on a function tool, carried across protocols (it was carried only chat -> OpenAI).

- A chat client's strict tool to an Anthropic model: Anthropic's tools take `strict` too
  (structured outputs: "guarantees schema validation on tool names and inputs", the anthropic
  SDK's ToolParam), and its schema goes in the subset Anthropic takes. It was dropped.
  A model that lacks structured outputs (no `json-schema` capability) is not sent one: a 400
  naming `tools` when it was named, as a strict schema gets.
- An Anthropic client's strict tool to an OpenAI model: the flag was not even decoded, so the
  upstream decoded the arguments unconstrained. It is carried, the schema closed as OpenAI's
  strict mode wants; a strict schema OpenAI refuses (an optional property) is not sent there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, text, with_openai_mock

pytestmark = pytest.mark.timeout(60)
CLAUDE = "claude-mock"
PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
# a chat client's strict schema as OpenAI's strict mode takes it (every object closed, said:
# an open one is refused on the OpenAI surfaces, tests/test_edge27_strict_tools.py)
CLOSED = {**PARAMETERS, "additionalProperties": False}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _with_claude(mock: AnthropicMock, capabilities: str = '"json-schema", ') -> Any:
    """An Anthropic-protocol model, with structured outputs (`json-schema`) unless told."""

    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.amock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n\n'
            f'[models.{CLAUDE}]\nupstream = "amock"\nupstream_model = "text"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            f'capabilities = [{capabilities}"chat", "json", "tools", "no-route"]\n'
        )

    return edit


def _sent(mock: AnthropicMock) -> dict[str, Any]:
    _headers, body = mock.requests[-1]
    return body


@pytest.mark.parametrize("strict", [True, False])
def test_a_chat_clients_strict_tool_reaches_an_anthropic_model(
    tmp_path: Path, mock: AnthropicMock, strict: bool
) -> None:
    tool = {
        "type": "function",
        "function": {"name": "weather", "parameters": CLOSED, "strict": strict},
    }

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_with_claude(mock)) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            messages = [{"role": "user", "content": "Weather in Paris?"}]
            await gpt.chat.completions.create(model=CLAUDE, messages=messages, tools=[tool])

    asyncio.run(main())
    (sent,) = _sent(mock)["tools"]
    assert sent["name"] == "weather" and sent["strict"] is strict
    assert sent["input_schema"]["properties"] == PARAMETERS["properties"]


def test_a_tool_that_does_not_say_stays_silent(tmp_path: Path, mock: AnthropicMock) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": PARAMETERS}}

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_with_claude(mock)) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            messages = [{"role": "user", "content": "Weather?"}]
            await gpt.chat.completions.create(model=CLAUDE, messages=messages, tools=[tool])

    asyncio.run(main())
    (sent,) = _sent(mock)["tools"]
    assert "strict" not in sent


def _gpt_with_structured_outputs(mock: AnthropicMock) -> Any:
    edit = with_openai_mock(mock)
    return lambda text: edit(text).replace(
        'capabilities = ["chat", "json", "tools"]',
        'capabilities = ["chat", "json", "json-schema", "tools"]',
    )


def _from_claude(tmp_path: Path, mock: AnthropicMock, schema: dict[str, Any]) -> Any:
    mock.openai_reply = completion(text("sunny"))
    tool = {"name": "weather", "input_schema": schema, "strict": True}

    async def main() -> Any:
        async with (
            sidecar_in_process(tmp_path, edit_config=_gpt_with_structured_outputs(mock)) as sc,
            sdks(sc) as (claude, _gpt),
        ):
            messages = [{"role": "user", "content": "Weather in Paris?"}]
            return await claude.messages.create(
                model=GPT, max_tokens=50, messages=messages, tools=[tool]
            )

    return asyncio.run(main())


def test_an_anthropic_clients_strict_tool_reaches_an_openai_model(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    before = len(mock.requests)
    answer = _from_claude(tmp_path, mock, PARAMETERS)
    assert answer.content[0].text == "sunny"
    assert len(mock.requests) == before + 1
    (sent,) = _sent(mock)["tools"]
    assert sent["function"]["strict"] is True
    # OpenAI's strict mode wants each object closed: said where the client left it unsaid
    assert sent["function"]["parameters"] == {**PARAMETERS, "additionalProperties": False}


def test_a_strict_schema_openai_refuses_is_not_sent_there(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    optional = {
        **PARAMETERS,
        "properties": {**PARAMETERS["properties"], "unit": {"type": "string"}},
    }
    before = len(mock.requests)
    with pytest.raises(anthropic.BadRequestError) as caught:
        _from_claude(tmp_path, mock, optional)
    assert "strict" in str(caught.value) and "unit" in str(caught.value)
    assert len(mock.requests) == before  # refused here, not by the upstream after a charge


def test_a_strict_tool_is_not_sent_to_a_model_without_structured_outputs(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    tool = {"type": "function", "function": {"name": "w", "parameters": CLOSED, "strict": True}}
    before = len(mock.requests)

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_with_claude(mock, capabilities="")) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            messages = [{"role": "user", "content": "Weather?"}]
            with pytest.raises(openai.BadRequestError) as caught:
                await gpt.chat.completions.create(model=CLAUDE, messages=messages, tools=[tool])
            assert caught.value.param == "tools"
            assert "json-schema" in caught.value.message and "strict" in caught.value.message

    asyncio.run(main())
    assert len(mock.requests) == before
