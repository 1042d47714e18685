"""OpenAI refuses a function whose name is not 1-64 of [a-zA-Z0-9_-] ("Invalid
'tools[0].function.name': string does not match pattern") and two functions of one name.
Arbiter forwarded both, on chat (tools and the deprecated functions) and /v1/responses: such a
request (MCP clients name tools `server.tool`) was routed, its worst case reserved and the model
called, to come back as OpenAI's 400 after the call, while `auto` answered it whenever it picked
a model that took it. Each is now the caller's 400 naming the field, before any call. Names
OpenAI takes still answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}
QUESTION = [{"role": "user", "content": "Look up the order."}]


def _tools(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": n, "description": "a lookup", "parameters": SCHEMA},
        }
        for n in names
    ]


BAD: dict[str, tuple[list[dict[str, Any]], str]] = {  # case: (tools, the param named)
    "dotted": (_tools("lookup", "crm.lookup"), "tools[1].function.name"),
    "space": (_tools("look up"), "tools[0].function.name"),
    "non-ascii": (_tools("suche_bestellung_ü"), "tools[0].function.name"),
    "65-characters": (_tools("x" * 65), "tools[0].function.name"),
    "twice": (_tools("lookup", "fetch", "lookup"), "tools[2].function.name"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_function_name_openai_refuses_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    tools, param = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for model in ("sim-small", "auto", "sim-medium"):  # sim-medium speaks Anthropic's
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model=model,
                        messages=QUESTION,
                        tools=tools,  # type: ignore[arg-type]
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["param"] == param, err
                assert err["type"] == "invalid_request_error", err
                assert param in err["message"], err
            # the same functions as Responses tools: the same refusal, named its way
            flat = [{"type": "function", **t["function"]} for t in tools]
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="sim-small", input="Look up the order.", tools=flat
                )  # type: ignore[arg-type]
            err = info.value.body
            assert isinstance(err, dict), err
            assert err["param"] == param.replace(".function", ""), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_deprecated_functions_are_held_to_the_same_rule(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for names, param in [(["a.b"], "functions[0].name"), (["f", "f"], "functions[1].name")]:
                functions = [{"name": n, "parameters": SCHEMA} for n in names]
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model="sim-small",
                        messages=QUESTION,
                        functions=functions,  # type: ignore[arg-type]
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["param"] == param, err

    run_with_claude(tmp_path, body)


def test_names_openai_takes_still_answer(tmp_path: Path) -> None:
    tools = _tools("lookup", "look-up_2", "X" * 64, "_")

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for model in ("sim-small", "auto", "sim-medium"):
                answer = await gpt.chat.completions.create(
                    model=model,
                    messages=QUESTION,
                    tools=tools,  # type: ignore[arg-type]
                )
                assert answer.choices, answer
            flat = [{"type": "function", **t["function"]} for t in tools]
            answer2 = await gpt.responses.create(
                model="sim-small", input="Look up the order.", tools=flat
            )  # type: ignore[arg-type]
            assert answer2.output, answer2

    run_with_claude(tmp_path, body)
