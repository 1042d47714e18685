"""Outside probe (eighteenth session): Anthropic refuses a custom tool whose name is not 1-128 of
[a-zA-Z0-9_-] ("tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
and two tools of one name ("tools: Tool names must be unique."). Arbiter checked neither: such
a request (MCP clients name tools `server.tool`) was routed, its worst case reserved and a
Claude model called, to come back as Anthropic's 400, while `auto` answered it whenever it
picked a model that took it. Each is now the caller's 400 naming the tool, before any call;
count_tokens too. Names Anthropic takes still answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}
QUESTION = [{"role": "user", "content": "Look up the order."}]


def _tools(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "description": "a lookup", "input_schema": SCHEMA} for name in names]


BAD: dict[str, tuple[list[dict[str, Any]], str]] = {  # case: (tools, what the error starts with)
    "dotted": (_tools("lookup", "crm.lookup"), "tools.1.name: String should match pattern"),
    "space": (_tools("look up"), "tools.0.name: String should match pattern"),
    "non-ascii": (_tools("suche_bestellung_ü"), "tools.0.name: String should match pattern"),
    "129-characters": (_tools("x" * 129), "tools.0.name: String should match pattern"),
    "twice": (_tools("lookup", "fetch", "lookup"), "tools: Tool names must be unique"),
    "custom-and-builtin": (
        [*_tools("web_search"), {"type": "web_search_20250305", "name": "web_search"}],
        "tools: Tool names must be unique",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_tool_name_anthropic_refuses_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    tools, start = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto", "sim-small"):  # sim-medium speaks Anthropic's
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model, max_tokens=50, messages=QUESTION, tools=tools
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
                assert err["error"]["message"].startswith(start), err
            with pytest.raises(anthropic.BadRequestError):
                await claude.messages.count_tokens(
                    model="sim-medium", messages=QUESTION, tools=tools
                )
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_names_anthropic_takes_still_answer(tmp_path: Path) -> None:
    tools = _tools("lookup", "look-up_2", "X" * 128, "_")

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for model in ("sim-medium", "auto"):
                answer = await claude.messages.create(
                    model=model, max_tokens=50, messages=QUESTION, tools=tools
                )
                assert answer.content, answer

    run_with_claude(tmp_path, body)
