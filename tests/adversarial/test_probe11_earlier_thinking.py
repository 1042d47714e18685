"""Outside probe (eleventh session): an agent on the anthropic SDK with extended thinking sends
back every earlier turn's `thinking` / `redacted_thinking` blocks, as Anthropic asks. Once one
turn had thought, every later request of the conversation made each OpenAI-protocol model
ineligible ("cannot carry thinking content"): `auto` routed the rest of the conversation among
the Anthropic models only, and a named OpenAI model was a 400. Anthropic itself drops an
earlier turn's thinking from the model's context (only the tool-use loop in progress keeps
its own), so an OpenAI model now gets the conversation without it. The thinking of the loop in
progress was refused too, so an agent whose turn had thought stayed on Anthropic's models until
the turn ended (and was refused by a named OpenAI model) even when the request itself asks for
no thinking: then nothing reads that thinking either, and it is left out the same way (surf19);
a request that thinks is still refused by the other protocol, by its `thinking` parameter."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from arbiter.protocols import anthropic as anthropic_protocol
from arbiter.protocols import compat
from arbiter.protocols import openai as openai_protocol
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"  # served over Anthropic's API here
SIG = "EqQBCkgIARABGAIiQL" + "A" * 40
TOOLS: Any = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]
LOOP: Any = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": SIG},
            {"type": "redacted_thinking", "data": "c2VjcmV0"},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
        ],
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}],
    },
]
LATER: Any = [
    *LOOP,
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Report it.", "signature": SIG},
            {"type": "text", "text": "It is 18C in Paris."},
        ],
    },
    {"role": "user", "content": "Thanks. And what should I wear?"},
]


def test_an_earlier_turns_thinking_is_left_out_for_an_openai_model() -> None:
    req = anthropic_protocol.decode_request({"model": "m", "max_tokens": 50, "messages": LATER})
    assert compat.untranslatable(req, "openai") is None
    body = orjson.dumps(openai_protocol.encode_request(req, "gpt")).decode()
    assert "I should call the tool" not in body and "Report it" not in body
    assert SIG not in body and "c2VjcmV0" not in body
    assert "It is 18C in Paris." in body and "toolu_01" in body  # the rest is all there


THINKS = {"type": "enabled", "budget_tokens": 1024}


def test_the_loops_thinking_is_left_out_unless_the_request_thinks() -> None:
    """The loop in progress keeps its thinking only for a request that thinks: one that does
    not is translated without it; one that does is refused (its `thinking` parameter first,
    and its loop's thinking blocks besides)."""
    req = anthropic_protocol.decode_request({"model": "m", "max_tokens": 50, "messages": LOOP})
    assert compat.untranslatable(req, "openai") is None
    body = orjson.dumps(openai_protocol.encode_request(req, "gpt")).decode()
    assert "I should call the tool" not in body and SIG not in body and "c2VjcmV0" not in body
    assert "toolu_01" in body and "18C" in body  # the call and its result go on
    thinking = anthropic_protocol.decode_request(
        {"model": "m", "max_tokens": 2000, "messages": LOOP, "thinking": THINKS}
    )
    assert compat.untranslatable(thinking, "openai") == "the 'thinking' parameter"
    assert compat._parts_problem(thinking, "openai") == "thinking content"
    disabled = anthropic_protocol.decode_request(
        {"model": "m", "max_tokens": 50, "messages": LOOP, "thinking": {"type": "disabled"}}
    )
    assert compat.untranslatable(disabled, "openai") is None


def test_the_conversation_after_a_thinking_turn_routes_over_the_whole_pool(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc,
            sdks(sc) as (claude, _),
        ):
            named = await claude.messages.with_raw_response.create(
                model="sim-small", max_tokens=60, messages=LATER, tools=TOOLS
            )
            assert named.headers["x-arbiter-model"] == "sim-small"
            assert (await named.parse()).content[0].type == "text"
            routed = await claude.messages.with_raw_response.create(
                model="auto", max_tokens=60, messages=LATER, tools=TOOLS
            )
            feed = (await sc.client.get("/arbiter/decisions?limit=5", headers=sc.admin)).json()
            row = next(
                d for d in feed["data"] if d["id"] == routed.headers["x-arbiter-decision-id"]
            )
            why = {c["model"]: c.get("why_not") or "" for c in row["candidates"]}
            assert not any("thinking" in w for w in why.values()), why
            # the loop in progress, in a request that asks for no thinking: an OpenAI model too
            loop = await claude.messages.with_raw_response.create(
                model="sim-small", max_tokens=60, messages=LOOP, tools=TOOLS
            )
            assert loop.headers["x-arbiter-model"] == "sim-small"
            assert (await loop.parse()).content
            routed = await claude.messages.with_raw_response.create(
                model="auto", max_tokens=60, messages=LOOP, tools=TOOLS
            )
            feed = (await sc.client.get("/arbiter/decisions?limit=5", headers=sc.admin)).json()
            row = next(
                d for d in feed["data"] if d["id"] == routed.headers["x-arbiter-decision-id"]
            )
            why = {c["model"]: c.get("why_not") or "" for c in row["candidates"]}
            assert not any("thinking" in w for w in why.values()), why  # the whole pool
            # a request that thinks needs its loop's thinking: Anthropic's models only
            with pytest.raises(anthropic.BadRequestError, match="'thinking' parameter"):
                await claude.messages.create(
                    model="sim-small", max_tokens=2000, messages=LOOP, tools=TOOLS,
                    thinking=THINKS,  # type: ignore[arg-type]
                )  # fmt: skip

    asyncio.run(main())
