"""Outside probe (fourteenth session): a Responses API function tool with `strict: true`, sent
with the official openai SDK to an OpenAI-protocol model.

The Responses request reaches an OpenAI upstream as its Chat Completions view, built from the
canonical request, whose tools had no `strict`: the flag was dropped, so the upstream decoded the
call's arguments unconstrained (strict function calling is what makes arguments match the
schema; `responses.parse` with `pydantic_function_tool` sends it). The view's function now says
`strict` as the caller said it (true or false); a tool that does not say keeps saying nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_signals_choices import GPT, completion, text, with_openai_mock

pytestmark = pytest.mark.timeout(60)
PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _sent_tool(tmp_path: Path, mock: AnthropicMock, tool: dict[str, Any]) -> dict[str, Any]:
    """The function of the one tool the upstream was sent for a Responses call offering `tool`."""
    mock.openai_reply = completion(text("sunny"))

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=with_openai_mock(mock)) as sc,
            sdks(sc) as (_claude, gpt),
        ):
            answer = await gpt.responses.create(model=GPT, input="Weather in Paris?", tools=[tool])
            assert answer.status == "completed"

    asyncio.run(main())
    _headers, body = mock.requests[-1]
    assert body["model"] == "openai-reply"
    (sent,) = body["tools"]
    assert sent["type"] == "function"
    return sent["function"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("strict", [True, False])
def test_a_strict_flag_reaches_the_upstream(
    tmp_path: Path, mock: AnthropicMock, strict: bool
) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": PARAMETERS, "strict": strict}
    sent = _sent_tool(tmp_path, mock, tool)
    assert sent["name"] == "get_weather" and sent["parameters"] == PARAMETERS
    assert sent["strict"] is strict


def test_a_tool_that_does_not_say_stays_silent(tmp_path: Path, mock: AnthropicMock) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
    sent = _sent_tool(tmp_path, mock, tool)
    assert "strict" not in sent
