"""Outside probe (tenth session): `/v1/messages/count_tokens` (and the budget's count of a
/v1/messages request, from the same OpenAI view) counted the `thinking` / `redacted_thinking`
blocks of earlier assistant turns. Anthropic strips those from the context (its context-window
guide: context = input - previous thinking + the current turn), so an agent replaying a long
conversation was told it held thousands of tokens it does not, and budgets reserved for them.
Only the thinking of the assistant turn in progress (a tool-use loop: assistant tool_use, user
tool_result) still counts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from arbiter.surfaces.anthropic_messages import parse_messages_request
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

LONG = "Let me weigh every option with care before answering. " * 200  # ~2,000 tokens
THINKING = {"type": "thinking", "thinking": LONG, "signature": "c2lnbmF0dXJl"}
REDACTED = {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk" * 300}
TOOLS: Any = [{"name": "lookup", "input_schema": {"type": "object"}}]


def earlier_turn(*thinking: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished turn whose answer carried `thinking`, then a new question."""
    return [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": [*thinking, {"type": "text", "text": "4"}]},
        {"role": "user", "content": "And 3 + 3?"},
    ]


def tool_loop(*thinking: dict[str, Any]) -> list[dict[str, Any]]:
    """The turn in progress: the assistant's thinking and tool call, the tool's result."""
    return [
        {"role": "user", "content": "Look up the answer."},
        {"role": "assistant", "content": [
            *thinking, {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
        ]},
    ]  # fmt: skip


def test_count_tokens_leaves_out_earlier_turns_thinking(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):

            async def count(messages: Any) -> int:
                r = await claude.messages.count_tokens(
                    model="sim-small", messages=messages, tools=TOOLS
                )
                return r.input_tokens

            plain = await count(earlier_turn())
            assert await count(earlier_turn(THINKING)) == plain
            assert await count(earlier_turn(REDACTED, THINKING)) == plain
            # the turn in progress: its thinking is in the context
            assert await count(tool_loop(THINKING)) > await count(tool_loop()) + 1000
            # ... and once a new question follows, it is an earlier turn's
            after = [*tool_loop(THINKING),
                     {"role": "assistant", "content": "42."},
                     {"role": "user", "content": "Thanks. Why?"}]  # fmt: skip
            without = [*tool_loop(),
                       {"role": "assistant", "content": "42."},
                       {"role": "user", "content": "Thanks. Why?"}]  # fmt: skip
            assert await count(after) == await count(without)

    asyncio.run(main())


def test_the_budget_view_of_a_messages_request_leaves_out_earlier_thinking() -> None:
    def view(messages: Any) -> Any:
        body = {"model": "auto", "max_tokens": 64, "tools": TOOLS, "messages": messages}
        return parse_messages_request(orjson.dumps(body)).budget_body

    assert view(earlier_turn(THINKING, REDACTED)) == view(earlier_turn())
    assert view(tool_loop(THINKING)) != view(tool_loop())
