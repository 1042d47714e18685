"""Outside probe (seventeenth session): the official `openai` SDK sending /v1/chat/completions
fields whose shape the spec fixes but Arbiter did not check. `tools: "x"`, `tool_choice:
"sometimes"` (with tools), `top_logprobs` without `logprobs: true`, an allowed_tools choice
without its mode, a function tool without a name, an earlier call's `arguments` sent as an
object, a user message without content, `prediction: "x"`, a json_schema format without its
`json_schema`, `audio: "x"` and more went to the OpenAI-protocol upstream as they came (the sim
answered 200; OpenAI answers 400 after routing, a compatible server guesses), and `audio: "x"`
was a 400 blaming the pool with no param. Each is now the caller's 400 in OpenAI's error shape
naming the field, before any upstream call; the shapes the spec allows (and tool / format types
it does not name, which compatible servers take) still pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate
from tests.sdk_clients import check_completion, sdks, sim_requests

pytestmark = pytest.mark.timeout(120)

HI: Any = [{"role": "user", "content": "Say hello."}]
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
FN = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def _calls(*calls: Any) -> list[Any]:
    """A thread whose assistant message made `calls`, each answered when it has an id `c1`."""
    return [
        *HI,
        {"role": "assistant", "tool_calls": list(calls)},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]


# (what is wrong, the request's fields, the param the 400 must name)
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("tools not an array", {"tools": "x"}, "tools"),
    ("tools an object", {"tools": {}}, "tools"),
    ("a tool not an object", {"tools": [1]}, "tools[0]"),
    ("a tool without a type", {"tools": [{"function": {"name": "f"}}]}, "tools[0].type"),
    ("a function tool without function", {"tools": [{"type": "function"}]}, "tools[0].function"),
    ("a function without a name", {"tools": [{"type": "function", "function": {}}]},
     "tools[0].function.name"),
    ("a function name not a string",
     {"tools": [{"type": "function", "function": {"name": 1}}]}, "tools[0].function.name"),
    ("parameters not an object",
     {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
     "tools[0].function.parameters"),
    ("strict not a boolean",
     {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
     "tools[0].function.strict"),
    ("a custom tool without a name", {"tools": [{"type": "custom", "custom": {}}]},
     "tools[0].custom.name"),
    ("tool_choice a word OpenAI lacks", {"tools": [FN], "tool_choice": "sometimes"},
     "tool_choice"),
    ("tool_choice a number", {"tools": [FN], "tool_choice": 1}, "tool_choice"),
    ("tool_choice without a type", {"tools": [FN], "tool_choice": {}}, "tool_choice.type"),
    ("allowed_tools not an object",
     {"tools": [FN], "tool_choice": {"type": "allowed_tools", "allowed_tools": "x"}},
     "tool_choice.allowed_tools"),
    ("allowed_tools in a mode OpenAI lacks",
     {"tools": [FN], "tool_choice": {"type": "allowed_tools", "allowed_tools": {
         "mode": "sometimes", "tools": [FN]}}}, "tool_choice.allowed_tools.mode"),
    ("allowed_tools without tools",
     {"tools": [FN], "tool_choice": {"type": "allowed_tools", "allowed_tools": {
         "mode": "auto"}}}, "tool_choice.allowed_tools.tools"),
    ("top_logprobs without logprobs", {"top_logprobs": 2}, "top_logprobs"),
    ("top_logprobs with logprobs false", {"logprobs": False, "top_logprobs": 0}, "top_logprobs"),
    ("functions not an array", {"functions": "x"}, "functions"),
    ("a function without a name (deprecated functions)", {"functions": [{}]}, "functions[0].name"),
    ("function_call a wrong word", {"functions": [{"name": "f"}], "function_call": "always"},
     "function_call"),
    ("function_call without a name", {"functions": [{"name": "f"}], "function_call": {}},
     "function_call.name"),
    ("a user message without content", {"messages": [{"role": "user"}]}, "messages[0].content"),
    ("a user message with null content", {"messages": [{"role": "user", "content": None}]},
     "messages[0].content"),
    ("a system message without content", {"messages": [{"role": "system"}, *HI]},
     "messages[0].content"),
    ("a tool message without content",
     {"messages": [*HI, {"role": "assistant", "tool_calls": [CALL]},
                   {"role": "tool", "tool_call_id": "c1"}]}, "messages[2].content"),
    ("a name not a string", {"messages": [{"role": "user", "content": "hi", "name": 1}]},
     "messages[0].name"),
    ("a function message without a name",
     {"messages": [*HI, {"role": "function", "content": "x"}]}, "messages[1].name"),
    ("tool_calls not an array",
     {"messages": [*HI, {"role": "assistant", "tool_calls": "x"}, *HI]},
     "messages[1].tool_calls"),
    ("a call without an id", {"messages": _calls({"type": "function", "function": {"name": "f"}})},
     "messages[1].tool_calls[0].id"),
    ("a call without its function", {"messages": _calls({"id": "c1", "type": "function"})},
     "messages[1].tool_calls[0].function"),
    ("a call's arguments as an object",
     {"messages": _calls({"id": "c1", "type": "function",
                          "function": {"name": "f", "arguments": {"a": 1}}})},
     "messages[1].tool_calls[0].function.arguments"),
    ("an assistant's refusal not a string",
     {"messages": [*HI, {"role": "assistant", "content": "a", "refusal": 1}, *HI]},
     "messages[1].refusal"),
    ("an assistant's audio not an object",
     {"messages": [*HI, {"role": "assistant", "audio": "x"}, *HI]}, "messages[1].audio"),
    ("a json_schema format without json_schema", {"response_format": {"type": "json_schema"}},
     "response_format.json_schema"),
    ("a json_schema without a name",
     {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
     "response_format.json_schema.name"),
    ("a json_schema's schema not an object",
     {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "s"}}},
     "response_format.json_schema.schema"),
    ("a json_schema's strict not a boolean",
     {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": "yes"}}},
     "response_format.json_schema.strict"),
    ("prediction not an object", {"prediction": "x"}, "prediction"),
    ("prediction of another type", {"prediction": {"type": "bogus", "content": "x"}},
     "prediction.type"),
    ("prediction without content", {"prediction": {"type": "content"}}, "prediction.content"),
    ("audio not an object", {"audio": "x"}, "audio"),
    ("audio output without its settings", {"modalities": ["text", "audio"]}, "audio"),
    ("audio without a format", {"audio": {"voice": "alloy"}}, "audio.format"),
    ("audio in a format OpenAI lacks", {"audio": {"voice": "alloy", "format": "ogg"}},
     "audio.format"),
    ("web_search_options not an object", {"web_search_options": "x"}, "web_search_options"),
    ("a search context size OpenAI lacks", {"web_search_options": {"search_context_size": "huge"}},
     "web_search_options.search_context_size"),
    ("prompt_cache_retention not a string", {"prompt_cache_retention": 24},
     "prompt_cache_retention"),
    ("prompt_cache_options not an object", {"prompt_cache_options": "x"}, "prompt_cache_options"),
    ("moderation not an object", {"moderation": 1}, "moderation"),
]  # fmt: skip

# shapes the spec allows (or types it does not name, which compatible servers take): answered
GOOD: list[tuple[str, dict[str, Any]]] = [
    ("function and custom tools", {"tools": [FN, {"type": "custom", "custom": {"name": "g"}}]}),
    ("a tool type the spec does not name", {"tools": [FN, {"type": "retrieval"}]}),
    ("tool_choice required", {"tools": [FN], "tool_choice": "required"}),
    ("top_logprobs with logprobs", {"logprobs": True, "top_logprobs": 2}),
    ("allowed_tools",
     {"tools": [FN], "tool_choice": {"type": "allowed_tools", "allowed_tools": {
         "mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}}}),
    ("deprecated functions and function_call",
     {"functions": [{"name": "f"}], "function_call": {"name": "f"}}),
    ("function_call a word", {"functions": [{"name": "f"}], "function_call": "auto"}),
    ("a call without type or arguments (as many clients send)",
     {"messages": _calls({"id": "c1", "function": {"name": "f"}})}),
    ("an assistant message of only a refusal",
     {"messages": [*HI, {"role": "assistant", "content": None, "refusal": "no"}, *HI]}),
    ("a named user message", {"messages": [{"role": "user", "content": "hi", "name": "ann"}]}),
    ("a json_schema format",
     {"response_format": {"type": "json_schema",
                          "json_schema": {"name": "x", "strict": True, "schema": {
                              "type": "object", "properties": {"a": {"type": "string"}},
                              "required": ["a"], "additionalProperties": False}}}}),
    ("a response_format type the spec does not name", {"response_format": {"type": "regex"}}),
    ("prediction as text", {"prediction": {"type": "content", "content": "hello"}}),
    ("prediction as parts",
     {"prediction": {"type": "content", "content": [{"type": "text", "text": "hello"}]}}),
    ("web search options",
     {"web_search_options": {"search_context_size": "low", "user_location": {
         "type": "approximate", "approximate": {"country": "FR"}}}}),
    ("prompt cache options",
     {"prompt_cache_retention": "24h", "prompt_cache_options": {"ttl": "30m"}}),
    ("moderation", {"moderation": {"model": "omni-moderation-latest"}}),
    ("nulls for every option",
     {k: None for k in ("tools", "functions", "function_call", "prediction", "audio",
                        "web_search_options", "prompt_cache_retention", "moderation")}),
]  # fmt: skip


def _split(fields: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The SDK's `messages` argument and the rest, sent as they are (extra_body)."""
    rest = dict(fields)
    return rest.pop("messages", HI), rest


def test_a_malformed_chat_field_is_a_400_naming_it_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            wrong = []
            for what, fields, param in BAD:
                messages, extra = _split(fields)
                for model in ("auto", "sim-small"):
                    try:
                        await gpt.chat.completions.create(
                            model=model, messages=messages, extra_body=extra
                        )
                    except openai.BadRequestError as err:
                        body = err.response.json()
                        validate("ErrorResponse", body)
                        if body["error"]["param"] != param:
                            wrong.append((what, model, body["error"]))
                        continue
                    wrong.append((what, model, "answered"))
            assert not wrong, wrong
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    asyncio.run(main())


def test_the_shapes_the_spec_allows_are_still_answered(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for what, fields in GOOD:
                messages, extra = _split(fields)
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=messages, extra_body=extra
                )
                assert raw.status_code == 200, what
                check_completion(raw.content)

    asyncio.run(main())
