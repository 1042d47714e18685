"""Outside probe (twelfth session): Anthropic's extended thinking (`thinking.type: enabled`)
does not go with a forced tool (`tool_choice` any or tool), a temperature other than 1, `top_k`,
or a `top_p` under 0.95 (Anthropic's extended-thinking docs; its API answers 400). Each was
accepted and sent on to a Claude model (the only kind that carries thinking, so `auto` too):
Anthropic's 400 came back after routing and the budget reservation, in words the client could
not act on. Each is now the caller's 400 in Anthropic's shape naming the field, before any
upstream call; what thinking allows still answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

MESSAGES: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: Any = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
BAD: dict[str, tuple[dict[str, Any], str]] = {  # case: (fields, the field named)
    "tool-choice-any": ({"tools": TOOLS, "tool_choice": {"type": "any"}}, "tool_choice"),
    "tool-choice-tool": (
        {"tools": TOOLS, "tool_choice": {"type": "tool", "name": "get_weather"}},
        "tool_choice",
    ),
    "temperature": ({"temperature": 0.5}, "temperature"),
    "top-k": ({"top_k": 5}, "top_k"),
    "top-p": ({"top_p": 0.5}, "top_p"),
}
GOOD: list[dict[str, Any]] = [
    {"tools": TOOLS, "tool_choice": {"type": "auto"}},
    {"tools": TOOLS, "tool_choice": {"type": "none"}},
    {"temperature": 1},
    {"top_p": 0.95},
]


def _sdk(fields: dict[str, Any]) -> dict[str, Any]:
    """The SDK's keyword arguments for `fields`: its create() has no sampling parameters
    (anthropic 2.x), which go as extra body fields, as a client sends them."""
    typed = {k: v for k, v in fields.items() if k in ("tools", "tool_choice")}
    rest = {k: v for k, v in fields.items() if k not in typed}
    return {**typed, "extra_body": rest} if rest else typed


@pytest.mark.parametrize("case", list(BAD))
def test_what_thinking_does_not_go_with_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    fields, named = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto"):  # sim-medium speaks Anthropic's API
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model, max_tokens=2048, messages=MESSAGES, thinking=THINKING,
                        **_sdk(fields),
                    )  # fmt: skip
                err = info.value.body
                assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
                assert err["error"]["message"].startswith(f"{named}:"), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            # without thinking the same fields are fine
            answer = await claude.messages.create(
                model="sim-medium", max_tokens=2048, messages=MESSAGES, **_sdk(fields)
            )
            assert answer.content, answer

    run_with_claude(tmp_path, body)


def test_what_thinking_allows_still_answers(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for fields in GOOD:
                answer = await claude.messages.create(
                    model="sim-medium", max_tokens=2048, messages=MESSAGES, thinking=THINKING,
                    **_sdk(fields),
                )  # fmt: skip
                assert answer.content, (fields, answer)

    run_with_claude(tmp_path, body)
