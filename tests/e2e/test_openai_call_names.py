"""OpenAI refuses an earlier call whose name is not of [a-zA-Z0-9_-] ("Invalid
'messages[9].tool_calls[0].function.name': string does not match pattern. Expected a string
that matches the pattern '^[a-zA-Z0-9_-]+$'."), and a custom tool is named by the function
rule (1-64 of them): the model calls it by that name. Arbiter checked neither: a conversation
replayed from a provider whose tools are named `crm.lookup`, or a custom tool of such a name,
was routed and its worst case reserved, then came back as OpenAI's 400 after the call, while
`auto` answered it whenever it picked a model that took it. Each is now the caller's 400
naming the field, before any call (the official openai SDK as the client); the same earlier
call as a Responses `function_call` input item too; a message's `name` (a participant's) and
an earlier deprecated `function_call`'s by the same pattern, and a custom tool named as a
function tool (one name space). Names OpenAI takes still answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}
LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}


def _replayed(name: str, *, custom: bool = False) -> list[dict[str, Any]]:
    """A conversation whose assistant turn called `name` (a function, or a custom tool)."""
    call: dict[str, Any] = (
        {"id": "call_1", "type": "custom", "custom": {"name": name, "input": "order 7"}}
        if custom
        else {"id": "call_1", "type": "function",
              "function": {"name": name, "arguments": '{"q": "order 7"}'}}
    )  # fmt: skip
    return [
        {"role": "user", "content": "Look up order 7."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
        {"role": "user", "content": "And now?"},
    ]


def _custom_tool(name: str) -> dict[str, Any]:
    return {"type": "custom", "custom": {"name": name, "description": "free-form lookup"}}


# case: (messages, tools, the param named)
BAD: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], str]] = {
    "dotted earlier call": (
        _replayed("crm.lookup"),
        [LOOKUP],
        "messages[1].tool_calls[0].function.name",
    ),
    "spaced earlier call": (
        _replayed("look up"),
        [LOOKUP],
        "messages[1].tool_calls[0].function.name",
    ),
    "dotted earlier custom call": (
        _replayed("crm.lookup", custom=True),
        [LOOKUP],
        "messages[1].tool_calls[0].custom.name",
    ),
    "dotted custom tool": (
        [{"role": "user", "content": "Look up order 7."}],
        [LOOKUP, _custom_tool("crm.lookup")],
        "tools[1].custom.name",
    ),
    "dotted participant name": (
        [{"role": "user", "name": "Dr. Smith", "content": "Look up order 7."}],
        [LOOKUP],
        "messages[0].name",
    ),
    "spaced assistant name": (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "name": "support bot", "content": "Hello."},
            {"role": "user", "content": "Look up order 7."},
        ],
        [LOOKUP],
        "messages[2].name",
    ),
    "dotted earlier deprecated function_call": (
        [
            {"role": "user", "content": "Look up order 7."},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "crm.lookup", "arguments": '{"q": "order 7"}'},
            },
            {"role": "function", "name": "lookup", "content": "shipped"},
            {"role": "user", "content": "And now?"},
        ],
        [LOOKUP],
        "messages[1].function_call.name",
    ),
    "65-character custom tool": (
        [{"role": "user", "content": "Look up order 7."}],
        [_custom_tool("x" * 65)],
        "tools[0].custom.name",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_call_or_custom_tool_name_openai_refuses_is_a_400_before_any_call(
    tmp_path: Path, case: str
) -> None:
    messages, tools, param = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for model in ("sim-small", "auto", "sim-medium"):  # sim-medium speaks Anthropic's
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model=model,
                        messages=messages,  # type: ignore[arg-type]
                        tools=tools,  # type: ignore[arg-type]
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["param"] == param, err
                assert err["type"] == "invalid_request_error", err
                assert err["message"].startswith(f"{param}: Input should be a string matching")
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_an_empty_participant_name_is_openais_400_before_any_call(tmp_path: Path) -> None:
    """OpenAI holds `name` to '^[a-zA-Z0-9_-]+$' (at least one character): an empty one was
    its 400 after routing, and answered whenever `auto` picked an Anthropic model."""
    convo = [
        {"role": "user", "name": "dr_smith", "content": "Look up order 7."},
        {"role": "assistant", "name": "", "content": "Which order?"},
        {"role": "user", "content": "Order 7."},
    ]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for model in ("sim-small", "auto", "sim-medium"):  # sim-medium speaks Anthropic's
                for stream in (False, True):
                    with pytest.raises(openai.BadRequestError) as info:
                        await gpt.chat.completions.create(
                            model=model,
                            messages=convo,  # type: ignore[arg-type]
                            stream=stream,
                        )
                    err = info.value.body
                    assert isinstance(err, dict) and err["param"] == "messages[1].name", err
                    assert err["type"] == "invalid_request_error", err
                    assert err["message"] == (
                        "Invalid 'messages[1].name': empty string. Expected a string with "
                        "minimum length 1, but got an empty string instead."
                    ), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_an_earlier_call_name_over_64_characters_is_a_400_before_any_call(
    tmp_path: Path,
) -> None:
    """OpenAI bounds an earlier call's name too ("Invalid 'messages[4].tool_calls[0].function.
    name': string too long. Expected a string with maximum length 64, ..."): a turn replayed
    from an Anthropic model that called an MCP tool of 65-128 characters was forwarded."""
    long = "X" * 65
    flat = [{"type": "function", "name": "lookup", "parameters": SCHEMA}]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for messages, param in [
                (_replayed(long), "messages[1].tool_calls[0].function.name"),
                (_replayed(long, custom=True), "messages[1].tool_calls[0].custom.name"),
            ]:
                for model in ("sim-small", "auto", "sim-medium"):
                    with pytest.raises(openai.BadRequestError) as info:
                        await gpt.chat.completions.create(
                            model=model,
                            messages=messages,  # type: ignore[arg-type]
                            tools=[LOOKUP],  # type: ignore[list-item]
                        )
                    err = info.value.body
                    assert isinstance(err, dict) and err["param"] == param, err
                    assert "at most 64 characters (got one of 65" in err["message"], err
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="sim-small",
                    input=[
                        {"role": "user", "content": "Look up order 7."},
                        {"type": "function_call", "call_id": "c1", "name": long, "arguments": "{}"},
                        {"type": "function_call_output", "call_id": "c1", "output": "shipped"},
                    ],
                    tools=flat,  # type: ignore[arg-type]
                )
            err = info.value.body
            assert isinstance(err, dict) and err["param"] == "input[1].name", err
            assert "at most 64 characters" in err["message"], err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_an_earlier_call_id_over_40_characters_is_openais_400_before_any_call(
    tmp_path: Path,
) -> None:
    """OpenAI bounds a call's id in the history ("Invalid 'messages[13].tool_call_id': string
    too long. Expected a string with maximum length 40"): a turn replayed from a client that
    makes longer ids was forwarded, its 400 after routing. 40 still answers."""

    def convo(call_id: str) -> list[dict[str, Any]]:
        messages = _replayed("lookup")
        messages[1]["tool_calls"][0]["id"] = messages[2]["tool_call_id"] = call_id
        return messages

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for model in ("sim-small", "auto", "sim-medium"):
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(
                        model=model,
                        messages=convo("c" * 41),  # type: ignore[arg-type]
                        tools=[LOOKUP],  # type: ignore[list-item]
                    )
                err = info.value.body
                assert isinstance(err, dict), err
                assert err["param"] == "messages[1].tool_calls[0].id", err
                assert "at most 40 characters (got one of 41)" in err["message"], err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            answer = await gpt.chat.completions.create(
                model="sim-small",
                messages=convo("c" * 40),  # type: ignore[arg-type]
                tools=[LOOKUP],  # type: ignore[list-item]
            )
            assert answer.choices, answer

    run_with_claude(tmp_path, body)


def test_a_custom_tool_named_as_a_function_is_a_400_before_any_call(tmp_path: Path) -> None:
    """One name space: the model calls either by its name (OpenAI refuses the pair)."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for tools, param in [
                ([LOOKUP, _custom_tool("lookup")], "tools[1].custom.name"),
                ([_custom_tool("lookup"), LOOKUP], "tools[1].function.name"),
                (
                    [_custom_tool("lookup"), LOOKUP, _custom_tool("lookup")],
                    "tools[1].function.name",
                ),
            ]:
                for model in ("sim-small", "auto", "sim-medium"):
                    with pytest.raises(openai.BadRequestError) as info:
                        await gpt.chat.completions.create(
                            model=model,
                            messages=[{"role": "user", "content": "Look up order 7."}],
                            tools=tools,  # type: ignore[arg-type]
                        )
                    err = info.value.body
                    assert isinstance(err, dict) and err["param"] == param, err
                    assert "duplicate function name 'lookup'" in err["message"], err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_an_earlier_responses_function_call_is_held_to_the_same_rule(tmp_path: Path) -> None:
    def items(name: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "Look up order 7."},
            {"type": "function_call", "call_id": "call_1", "name": name, "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "shipped"},
        ]

    flat = [{"type": "function", "name": "lookup", "parameters": SCHEMA}]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.responses.create(
                    model="sim-small",
                    input=items("crm.lookup"),
                    tools=flat,  # type: ignore[arg-type]
                )
            err = info.value.body
            assert isinstance(err, dict) and err["param"] == "input[1].name", err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            answer = await gpt.responses.create(
                model="sim-small",
                input=items("lookup"),
                tools=flat,  # type: ignore[arg-type]
            )
            assert answer.output, answer

    run_with_claude(tmp_path, body)


def test_call_and_custom_tool_names_openai_takes_still_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for messages, tools in [
                (_replayed("look-up_2"), [LOOKUP]),
                (_replayed("X" * 64), [LOOKUP]),  # an earlier call's name of OpenAI's 64
                (_replayed("lookup", custom=True), [LOOKUP]),
                (  # participant names of OpenAI's pattern
                    [
                        {"role": "user", "name": "dr_smith-2", "content": "Look up order 7."},
                        {"role": "assistant", "content": "Which order?"},
                        {"role": "user", "name": "Y" * 80, "content": "Order 7."},
                    ],
                    [LOOKUP],
                ),
                (
                    [
                        {"role": "user", "content": "Look up order 7."},
                        {
                            "role": "assistant",
                            "content": None,
                            "function_call": {"name": "lookup", "arguments": '{"q": "order 7"}'},
                        },
                        {"role": "function", "name": "lookup", "content": "shipped"},
                    ],
                    [LOOKUP],
                ),
            ]:
                for model in ("sim-small", "auto"):
                    answer = await gpt.chat.completions.create(
                        model=model,
                        messages=messages,  # type: ignore[arg-type]
                        tools=tools,  # type: ignore[arg-type]
                    )
                    assert answer.choices, answer
            answer = await gpt.chat.completions.create(
                model="sim-small",
                messages=[{"role": "user", "content": "Look up order 7."}],
                tools=[LOOKUP, _custom_tool("crm_lookup-2")],  # type: ignore[list-item]
            )
            assert answer.choices, answer

    run_with_claude(tmp_path, body)
