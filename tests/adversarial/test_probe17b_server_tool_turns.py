"""Outside probe (seventeenth session): a conversation that used a server tool sends the tool's
blocks back in the next turn's assistant message, as Anthropic's answer gave them. Arbiter knew
only `server_tool_use` and `web_search_tool_result`: the results of code execution (and its
bash and text-editor forms), web fetch and tool search, and the beta MCP connector's
`mcp_tool_use` / `mcp_tool_result`, were a 400 "... is not a valid block type", so the second
turn of such a conversation never reached the model; so was a `tool_result` holding tool
search's `tool_reference` blocks (the SDK's ToolResultBlockParam content). Now each goes to a
Claude model as it came, and a model of the other protocol, which cannot carry it, is refused
by name (a 400 when named; out of `auto`'s choices)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

QUESTION = {"role": "user", "content": "Compute 2**10, then fetch the docs."}
NEXT = {"role": "user", "content": "Thanks. And 2**11?"}


def _turn(call: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation: a question, the answer that ran a server tool, the next question."""
    said = {"type": "text", "text": "Done."}
    return [QUESTION, {"role": "assistant", "content": [call, result, said]}, NEXT]


def _server_call(name: str, tool_id: str = "srvtoolu_01") -> dict[str, Any]:
    return {"type": "server_tool_use", "id": tool_id, "name": name, "input": {"code": "2**10"}}


CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "code_execution": _turn(
        _server_call("code_execution"),
        {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_01",
         "content": {"type": "code_execution_result", "stdout": "1024\n", "stderr": "",
                     "return_code": 0, "content": []}},
    ),
    "bash_code_execution": _turn(
        _server_call("bash_code_execution"),
        {"type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_01",
         "content": {"type": "bash_code_execution_result", "stdout": "1024", "stderr": "",
                     "return_code": 0, "content": []}},
    ),
    "text_editor_code_execution": _turn(
        _server_call("text_editor_code_execution"),
        {"type": "text_editor_code_execution_tool_result", "tool_use_id": "srvtoolu_01",
         "content": {"type": "text_editor_code_execution_create_result", "is_file_update": False}},
    ),
    "web_fetch": _turn(
        _server_call("web_fetch"),
        {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_01",
         "content": {"type": "web_fetch_result", "url": "https://example.com/docs",
                     "content": {"type": "document", "source": {"type": "text",
                                 "media_type": "text/plain", "data": "The docs."}}}},
    ),
    "tool_search": _turn(
        _server_call("tool_search_tool_regex"),
        {"type": "tool_search_tool_result", "tool_use_id": "srvtoolu_01",
         "content": {"type": "tool_search_tool_search_result",
                     "tool_references": [{"type": "tool_reference", "tool_name": "power"}]}},
    ),
    "mcp": _turn(
        {"type": "mcp_tool_use", "id": "mcptoolu_01", "name": "power", "server_name": "calc",
         "input": {"x": 2, "y": 10}},
        {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_01", "is_error": False,
         "content": [{"type": "text", "text": "1024"}]},
    ),
    "tool_reference_in_tool_result": [
        QUESTION,
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01", "name": "find_tools", "input": {"q": "pow"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01",
             "content": [{"type": "tool_reference", "tool_name": "power"}]}]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


@pytest.mark.parametrize("case", sorted(CONVERSATIONS))
def test_a_server_tools_blocks_go_back_to_a_claude_model_as_they_came(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    messages = CONVERSATIONS[case]
    mock.requests.clear()

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="claude-mock", max_tokens=50, messages=messages
            )
            assert answer.content[0].type == "text"
            count = await claude.messages.count_tokens(model="claude-mock", messages=messages)
            assert count.input_tokens > 0
            # a model of the other protocol cannot carry them: a 400 naming what, no call
            body = {"model": "sim-small", "max_tokens": 50, "messages": messages}
            r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=body)
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert "cannot carry" in message, message

    asyncio.run(main())
    sent = [body for _, body in mock.requests if body.get("max_tokens")]
    assert len(sent) == 1 and sent[0]["messages"] == messages


def test_a_malformed_tool_reference_is_the_callers_400(tmp_path: Path, mock: AnthropicMock) -> None:
    messages = [dict(m) for m in CONVERSATIONS["tool_reference_in_tool_result"]]
    messages[2] = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "tool_reference"}]}
    ]}  # fmt: skip
    mock.requests.clear()

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            body = {"model": "claude-mock", "max_tokens": 50, "messages": messages}
            r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=body)
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert message.startswith("messages.2.content.0.content.0.tool_name:"), message

    asyncio.run(main())
    assert mock.requests == []
