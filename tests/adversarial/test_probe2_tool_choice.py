"""Outside probe: `tool_choice` / `parallel_tool_calls` on a request without tools. The Responses
API echoes `tool_choice: "auto"` and `parallel_tool_calls: true` on every response, and agent
frameworks send them back (or `parallel_tool_calls: false`) whether or not the turn has tools.
Anthropic (and OpenAI's Chat Completions) refuse a `tool_choice` with no `tools` ("tool_choice may
only be specified while providing tools"), and the Anthropic encoder sent one: such a request
named to a Claude model came back as `upstream_rejected`. With no tools, "auto", "none" and the
parallel flag mean nothing: they are left out of the upstream body."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter.protocols import anthropic_encode, openai_responses
from arbiter.protocols import openai as openai_protocol
from tests.inproc import InProcess, sidecar_in_process

CLAUDE = "sim-medium"
HI = [{"role": "user", "content": "Say hello."}]
TOOL = {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
NO_TOOLS = [
    {"parallel_tool_calls": False},
    {"tool_choice": "auto"},
    {"tool_choice": "none"},
    {"tool_choice": "auto", "parallel_tool_calls": False},
]


@pytest.mark.parametrize("extra", NO_TOOLS)
def test_no_tools_no_tool_choice_upstream(extra: dict[str, Any]) -> None:
    req = openai_protocol.decode_request({"model": "m", "messages": HI, **extra})
    claude = anthropic_encode.encode_request(req, "claude", default_max_tokens=100)
    gpt = openai_protocol.encode_request(req, "gpt")
    assert "tool_choice" not in claude and "tool_choice" not in gpt
    assert "parallel_tool_calls" not in gpt


def test_with_tools_the_choice_still_goes_upstream() -> None:
    body = {"model": "m", "messages": HI, "tools": [TOOL], "parallel_tool_calls": False}
    req = openai_protocol.decode_request({**body, "tool_choice": "auto"})
    claude = anthropic_encode.encode_request(req, "claude", default_max_tokens=100)
    assert claude["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert openai_protocol.encode_request(req, "gpt")["tool_choice"] == "auto"
    none = openai_protocol.decode_request({**body, "tool_choice": "none"})
    assert anthropic_encode.encode_request(none, "c", default_max_tokens=9)["tool_choice"] == {
        "type": "none"
    }


def test_a_responses_echo_without_tools_encodes_no_choice() -> None:
    req, _ = openai_responses.decode_request(
        {"model": "m", "input": "hi", "tool_choice": "auto", "parallel_tool_calls": True}
    )
    assert "tool_choice" not in anthropic_encode.encode_request(req, "c", default_max_tokens=9)


def test_a_claude_model_answers_a_choice_without_tools(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            await both_surfaces(sc)

    asyncio.run(main())


async def both_surfaces(sc: InProcess) -> None:
    for extra in NO_TOOLS:
        chat = {"model": CLAUDE, "messages": HI, **extra}
        r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
        assert r.status_code == 200, (extra, r.text)
        responses = {"model": CLAUDE, "input": "Say hello.", **extra}
        r = await sc.client.post("/v1/responses", json=responses, headers=sc.auth)
        assert r.status_code == 200, (extra, r.text)
