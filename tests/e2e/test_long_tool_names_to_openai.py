"""Anthropic takes a tool name of up to 128 characters, OpenAI a function name of up to 64
("tools[0].function.name: string too long"). An Anthropic client's tool of 65-128 characters
was translated as it came for an OpenAI-protocol model: named, the call was routed and its worst
case reserved, then refused by OpenAI after the call; under `auto`, whenever an OpenAI model was
picked. Now such a model is not eligible for `auto`, and one named is the caller's 400 naming
the tool, before any call (the official anthropic SDK as the client). The name is not mapped
to a shorter one: the client reads the name the model calls and sends it back in later turns,
and Arbiter keeps no state to map it back across requests. Names of 64 still cross."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}
LONG = "lookup_order_status_in_the_crm_of_the_northern_region_by_order_id_and_email"  # 75
QUESTIONS = [
    "Hi",
    "Look up order 7.",
    "What is 2 + 2?",
    "Write a haiku about the sea.",
    "Say hello.",
]


def _tools(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "description": "a lookup", "input_schema": SCHEMA} for n in names]


def test_a_tool_name_only_anthropic_takes_is_a_400_for_a_named_openai_model(
    tmp_path: Path,
) -> None:
    assert 64 < len(LONG) <= 128

    async def body(sc: InProcess) -> None:
        assert sc.services.protocol_of("sim-small") == "openai"
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(
                    model="sim-small", max_tokens=50,
                    messages=[{"role": "user", "content": "Look up order 7."}],
                    tools=_tools("lookup", LONG),  # type: ignore[arg-type]
                )  # fmt: skip
            err = info.value.body
            assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
            message = err["error"]["message"]
            assert LONG[:40] in message and "64 characters" in message, message
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_auto_serves_it_with_a_model_that_takes_the_name(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for question in QUESTIONS:
                raw = await claude.messages.with_raw_response.create(
                    model="auto", max_tokens=50,
                    messages=[{"role": "user", "content": question}],
                    tools=_tools("lookup", LONG),  # type: ignore[arg-type]
                )  # fmt: skip
                model = raw.headers["x-arbiter-model"]
                assert sc.services.protocol_of(model) == "anthropic", (question, model)
                assert (await raw.parse()).content

    run_with_claude(tmp_path, body)


def test_a_name_of_64_still_crosses(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="sim-small", max_tokens=50,
                messages=[{"role": "user", "content": "Look up order 7."}],
                tools=_tools("lookup", LONG[:64]),  # type: ignore[arg-type]
            )  # fmt: skip
            assert answer.content, answer

    run_with_claude(tmp_path, body)


def _called_earlier(name: str) -> list[dict[str, Any]]:
    """A conversation whose earlier turn called `name`, a tool the current turn no longer lists."""
    return [
        {"role": "user", "content": "Look up order 7."},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_old1", "name": name, "input": {"q": "7"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_old1", "content": "shipped"},
        ]},
        {"role": "assistant", "content": "Order 7 has shipped."},
        {"role": "user", "content": "Thanks. Now look up order 8."},
    ]  # fmt: skip


def test_an_earlier_tool_use_of_such_a_name_keeps_openai_models_out(tmp_path: Path) -> None:
    """OpenAI refuses the name in the history too ("Invalid 'messages[1].tool_calls[0].
    function.name': string too long"): a named OpenAI model is a 400 naming the tool_use
    block, `auto` serves it with a model that takes it, and a name of 64 still crosses."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(
                    model="sim-small", max_tokens=50, messages=_called_earlier(LONG),  # type: ignore[arg-type]
                    tools=_tools("lookup"),  # type: ignore[arg-type]
                )  # fmt: skip
            err = info.value.body
            assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
            message = err["error"]["message"]
            assert "tool_use block 'toolu_old1'" in message, message
            assert LONG[:40] in message and "64 characters" in message, message
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            for question in QUESTIONS[:3]:
                convo = _called_earlier(LONG)
                convo[-1] = {"role": "user", "content": question}
                raw = await claude.messages.with_raw_response.create(
                    model="auto", max_tokens=50, messages=convo,  # type: ignore[arg-type]
                    tools=_tools("lookup"),  # type: ignore[arg-type]
                )  # fmt: skip
                model = raw.headers["x-arbiter-model"]
                assert sc.services.protocol_of(model) == "anthropic", (question, model)
            answer = await claude.messages.create(
                model="sim-small", max_tokens=50, messages=_called_earlier(LONG[:64]),  # type: ignore[arg-type]
                tools=_tools("lookup"),  # type: ignore[arg-type]
            )  # fmt: skip
            assert answer.content, answer

    run_with_claude(tmp_path, body)
