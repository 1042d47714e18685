"""Two tool rules Anthropic holds a request to, which Arbiter let through to be refused by a
Claude model after routing and the budget reservation (an OpenAI model took them):
- a `tool_choice` forcing a name must name a real tool: a toolset's stand-in name (an
  `mcp_toolset`'s server name, a computer toolset's type: no tool goes by it) satisfied it;
- in the user message answering tool_use blocks, the tool_result blocks come first (Anthropic's
  tool-use docs: "tool_result blocks must come FIRST in the content array, and any text must
  come AFTER all tool results"): text before them is the caller's 400 naming the block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

QUESTION = [{"role": "user", "content": "What can the calculator server do?"}]
MCP_SERVERS = [{"type": "url", "url": "https://mcp.example.com/sse", "name": "calc"}]
TOOLSETS: list[tuple[list[str], dict[str, Any], str]] = [  # (betas, toolset, its stand-in)
    (["mcp-client-2025-11-20"], {"type": "mcp_toolset", "mcp_server_name": "calc"}, "calc"),
    (["computer-use-2025-11-24"], {"type": "computer_toolset_20260801"},
     "computer_toolset_20260801"),
]  # fmt: skip
LOOKUP = {"name": "lookup", "description": "look up", "input_schema": {"type": "object"}}


def test_a_tool_choice_naming_a_toolsets_stand_in_is_a_400(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for betas, toolset, stand_in in TOOLSETS:
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.beta.messages.create(
                        model="sim-medium", max_tokens=50, messages=QUESTION, betas=betas,  # type: ignore[arg-type]
                        mcp_servers=MCP_SERVERS, tools=[LOOKUP, toolset],  # type: ignore[list-item]
                        tool_choice={"type": "tool", "name": stand_in},
                    )  # fmt: skip
                err = info.value.body
                assert isinstance(err, dict), err
                assert err["error"]["message"].startswith(
                    f"Invalid value for 'tool_choice.name': no tool named {stand_in!r}"
                ), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            # a real tool beside the toolset may still be forced (refused only for the
            # toolset, which sim-medium's other protocol cannot carry: not this check's)
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.beta.messages.create(
                    model="sim-small", max_tokens=50, messages=QUESTION,
                    betas=["mcp-client-2025-11-20"], mcp_servers=MCP_SERVERS,  # type: ignore[list-item]
                    tools=[LOOKUP, TOOLSETS[0][1]],  # type: ignore[list-item]
                    tool_choice={"type": "tool", "name": "lookup"},
                )  # fmt: skip
            assert "tool_choice" not in str(info.value), str(info.value)

    run_with_claude(tmp_path, body)


CALL = {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": "order 7"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "shipped"}
TEXT = {"type": "text", "text": "Here is what the lookup said."}
ASKED = {"role": "user", "content": "Where is order 7?"}
CALLED = {"role": "assistant", "content": [CALL]}
BAD_TURNS: dict[str, tuple[list[dict[str, Any]], str, str]] = {  # (messages, param, before it)
    "text-first": (
        [ASKED, CALLED, {"role": "user", "content": [TEXT, RESULT]}],
        "messages.2.content.1", "messages.2.content.0",
    ),
    "text-between-results": (
        [ASKED, {"role": "assistant", "content": [CALL, {**CALL, "id": "toolu_02"}]},
         {"role": "user", "content": [RESULT, TEXT, {**RESULT, "tool_use_id": "toolu_02"}]}],
        "messages.2.content.2", "messages.2.content.1",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_TURNS))
def test_text_before_tool_results_is_a_400_naming_the_block(tmp_path: Path, case: str) -> None:
    messages, param, first = BAD_TURNS[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto", "sim-small"):
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model,
                        max_tokens=50,
                        messages=messages,
                        tools=[LOOKUP],  # type: ignore[arg-type,list-item]
                    )
                err = info.value.body
                assert isinstance(err, dict), err
                message = err["error"]["message"]
                assert message.startswith(f"{param}: `tool_result` blocks must come first"), err
                assert first in message, err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            # results first, then text: what Anthropic takes, answered
            good = [ASKED, CALLED, {"role": "user", "content": [RESULT, TEXT]}]
            for model in ("sim-medium", "sim-small"):
                answer = await claude.messages.create(
                    model=model,
                    max_tokens=50,
                    messages=good,
                    tools=[LOOKUP],  # type: ignore[arg-type,list-item]
                )
                assert answer.content, answer

    run_with_claude(tmp_path, body)
