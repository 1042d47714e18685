"""A call id given twice (two calls of one id, or two answers to one call) reached an OpenAI model
as given, and OpenAI's 400 named nothing the caller could map back. Now it is a 400 in OpenAI's
shape naming the duplicate and where it is, before any upstream call: Chat Completions' `tool`
messages and assistant `tool_calls`, the Responses API's `function_call` and
`function_call_output` items. Through the official openai SDK; the same turns without the
duplicate are answered (the control)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def _call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": 1}'}}  # fmt: skip


def _chat(calls: list[str], answers: list[str]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Look 1 and 2 up."},
        {"role": "assistant", "content": None, "tool_calls": [_call(c) for c in calls]},
        *({"role": "tool", "tool_call_id": a, "content": "found"} for a in answers),
    ]


def _responses(calls: list[str], answers: list[str]) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Look 1 and 2 up."},
        *({"type": "function_call", "call_id": c, "name": "lookup", "arguments": "{}"}
          for c in calls),
        *({"type": "function_call_output", "call_id": a, "output": "found"} for a in answers),
    ]  # fmt: skip


CASES = [
    # (surface, calls, answers, the param named, what the message names)
    ("chat", ["c1", "c1"], ["c1"], "messages[1].tool_calls[1].id", "tool_calls[0]"),
    ("chat", ["c1", "c2"], ["c1", "c2", "c1"], "messages[4].tool_call_id", "messages[2]"),
    ("responses", ["c1", "c1"], ["c1"], "input[2].call_id", "input[1]"),
    ("responses", ["c1", "c2"], ["c1", "c2", "c1"], "input[5].call_id", "input[3]"),
]


@pytest.mark.parametrize(("surface", "calls", "answers", "param", "first"), CASES)
def test_a_duplicate_call_id_is_a_400_naming_it_before_any_call(
    tmp_path: Path, surface: str, calls: list[str], answers: list[str], param: str, first: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):

            async def ask(calls: list[str], answers: list[str]) -> None:
                if surface == "chat":
                    await gpt.chat.completions.create(
                        model="sim-small", messages=_chat(calls, answers), tools=[TOOL],  # type: ignore[arg-type,list-item]
                    )  # fmt: skip
                else:
                    await gpt.responses.create(
                        model="sim-small", input=_responses(calls, answers),  # type: ignore[arg-type]
                        tools=[{"type": "function", "name": "lookup",
                                "parameters": {"type": "object"}, "strict": False}],
                    )  # fmt: skip

            before = await sim_requests(sc)
            with pytest.raises(openai.BadRequestError) as err:
                await ask(calls, answers)
            assert err.value.param == param, err.value.body
            message = str(err.value.message)
            assert "duplicate" in message and "'c1'" in message and first in message, message
            assert await sim_requests(sc) == before  # no upstream call
            await ask(sorted(set(calls)), sorted(set(answers)))  # the control: answered

    asyncio.run(main())
