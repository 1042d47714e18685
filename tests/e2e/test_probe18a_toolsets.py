"""Outside probe (eighteenth session): the anthropic SDK's (2.17) beta tool union has three tool
types without a `name`: the MCP connector's `mcp_toolset` (mcp-client-2025-11-20: the tools of
one server named by `mcp_server_name`), `computer_toolset_20260801` and
`browser_toolset_20260801`. Arbiter required a name of every tool, so each request with one was
a 400 "tools.0.name: Input should be a valid string" and the current MCP connector never
reached a Claude model. Now a toolset goes to a Claude model as it came (count_tokens takes it
too), a model of the other protocol refuses it by name, and a toolset still missing the field
Anthropic requires of it (`mcp_server_name`) is the caller's 400 naming that field."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

QUESTION = [{"role": "user", "content": "What can the calculator server do?"}]
MCP_SERVERS = [{"type": "url", "url": "https://mcp.example.com/sse", "name": "calc"}]
TOOLSETS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "mcp_toolset": (
        ["mcp-client-2025-11-20"],
        {"type": "mcp_toolset", "mcp_server_name": "calc",
         "default_config": {"enabled": True, "defer_loading": False},
         "configs": {"power": {"enabled": False}}, "cache_control": {"type": "ephemeral"}},
    ),
    "computer_toolset": (["computer-use-2025-11-24"], {"type": "computer_toolset_20260801"}),
    "browser_toolset": (["computer-use-2025-11-24"], {"type": "browser_toolset_20260801"}),
}  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _request(case: str) -> dict[str, Any]:
    betas, toolset = TOOLSETS[case]
    request: dict[str, Any] = {
        "max_tokens": 50, "messages": QUESTION, "tools": [toolset], "betas": betas
    }  # fmt: skip
    if case == "mcp_toolset":
        request["mcp_servers"] = MCP_SERVERS
    return request


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", sorted(TOOLSETS))
def test_a_toolset_without_a_name_reaches_a_claude_model(
    tmp_path: Path, mock: AnthropicMock, case: str, stream: bool
) -> None:
    request = _request(case)
    mock.requests.clear()

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            if stream:
                async with claude.beta.messages.stream(model="claude-mock", **request) as s:
                    answer = await s.get_final_message()
            else:
                answer = await claude.beta.messages.create(model="claude-mock", **request)
            assert answer.content[0].type == "text" and answer.content[0].text
            counted = {k: v for k, v in request.items() if k != "max_tokens"}
            count = await claude.beta.messages.count_tokens(model="claude-mock", **counted)
            assert count.input_tokens > 0
            # a model of the other protocol cannot carry it: refused by name, nothing called
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.beta.messages.create(model="sim-small", **request)
            kind = TOOLSETS[case][1]["type"]
            refused = "'mcp_servers' parameter" if case == "mcp_toolset" else f"{kind!r} tool type"
            assert f"cannot carry the {refused}" in str(info.value), str(info.value)

    asyncio.run(main())
    sent = [body for _, body in mock.requests if body.get("max_tokens")]
    assert len(sent) == 1 and sent[0]["tools"] == request["tools"]


def test_an_mcp_toolset_without_its_server_is_the_callers_400(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.requests.clear()

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            for toolset, field in [
                ({"type": "mcp_toolset"}, "tools.1.mcp_server_name"),
                ({"type": "mcp_toolset", "mcp_server_name": 7}, "tools.1.mcp_server_name"),
                # a toolset has no `name` (the SDK's type): Anthropic's extra-field 400
                (
                    {"type": "mcp_toolset", "mcp_server_name": "calc", "name": ""},
                    "tools.1.mcp_toolset.name",
                ),
                ({"type": "web_search_20250305"}, "tools.1.name"),  # named server tools still
            ]:
                body = {
                    "model": "claude-mock", "max_tokens": 50, "messages": QUESTION,
                    "mcp_servers": MCP_SERVERS,
                    "tools": [{"name": "f", "input_schema": {"type": "object"}}, toolset],
                }  # fmt: skip
                r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=body)
                message = check_anthropic_error(r, 400, "invalid_request_error")
                assert message.startswith(field + ":"), (toolset, message)

    asyncio.run(main())
    assert mock.requests == []
