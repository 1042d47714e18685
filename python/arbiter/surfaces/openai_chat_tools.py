"""A chat request's tool fields checked for shape before routing (the spec's
CreateChatCompletionRequest): `tools`, the deprecated `functions` and `function_call`, and an
earlier assistant message's `tool_calls` / `function_call`.

Unchecked, a bad shape (`tools: "x"`, a function without a name, a call's `arguments` sent as
an object rather than JSON text) went to an OpenAI-protocol upstream as it came: OpenAI answers
400 after routing (a failed attempt the caller sees as "upstream ... returned HTTP 400"), an
OpenAI-compatible server guessed, and `tools: "x"` even counted as tools when routing. Only what
the spec forbids is refused: a tool or call of a type the spec does not name passes on, as
compatible servers take their own (the canonical decoder reads those for Anthropic models).
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

_FUNCTION_CALL_WORDS = ("none", "auto")
TOOL_FIELDS = frozenset({"tools", "functions", "function_call"})


def check_tool_fields(body: dict[str, Any]) -> None:
    """`tools`, `functions` and `function_call`, each when present (null means unset)."""
    if TOOL_FIELDS.isdisjoint(body):
        return
    tools = body.get("tools")
    if tools is not None:
        for i, tool in enumerate(c.array(tools, "tools")):
            _tool(tool, f"tools[{i}]")
    functions = body.get("functions")
    if functions is not None:
        for i, fn in enumerate(c.array(functions, "functions")):
            _function(c.obj(fn, f"functions[{i}]"), f"functions[{i}]")
    call = body.get("function_call")
    if call is not None and call not in _FUNCTION_CALL_WORDS:
        if not isinstance(call, dict):
            raise InvalidRequest(
                "Invalid value for 'function_call': use 'none', 'auto' or {\"name\": ...}.",
                param="function_call",
            )
        c.string(call.get("name"), "function_call.name", non_empty=True)


def check_message_calls(msg: dict[str, Any], where: str) -> None:
    """An assistant message's `tool_calls` (each: an id, and a function's name and JSON-text
    arguments, or a custom tool's name and input) and deprecated `function_call`."""
    calls = msg.get("tool_calls")
    if calls is not None:
        for j, raw in enumerate(c.array(calls, f"{where}.tool_calls")):
            _call(raw, f"{where}.tool_calls[{j}]")
    call = msg.get("function_call")
    if call is not None:
        call = c.obj(call, f"{where}.function_call")
        c.string(call.get("name"), f"{where}.function_call.name", non_empty=True)
        c.opt_string(call.get("arguments"), f"{where}.function_call.arguments")


def _tool(raw: Any, where: str) -> None:
    tool = c.obj(raw, where)
    kind = c.string(tool.get("type"), f"{where}.type", non_empty=True)
    if kind == "function":
        _function(c.obj(tool.get("function"), f"{where}.function"), f"{where}.function")
    elif kind == "custom":
        custom = c.obj(tool.get("custom"), f"{where}.custom")
        c.string(custom.get("name"), f"{where}.custom.name", non_empty=True)
        c.opt_string(custom.get("description"), f"{where}.custom.description")
        if custom.get("format") is not None:
            c.obj(custom["format"], f"{where}.custom.format")


def _function(fn: dict[str, Any], where: str) -> None:
    c.string(fn.get("name"), f"{where}.name", non_empty=True)
    c.opt_string(fn.get("description"), f"{where}.description")
    if fn.get("parameters") is not None:
        c.obj(fn["parameters"], f"{where}.parameters")
    c.opt_bool(fn.get("strict"), f"{where}.strict")


def _call(raw: Any, where: str) -> None:
    call = c.obj(raw, where)
    c.string(call.get("id"), f"{where}.id", non_empty=True)
    # no type is read as a function call (as the canonical decoder and many clients do), and
    # no arguments as none: what every upstream took; a wrong type is no call anyone reads
    kind = "function" if call.get("type") is None else c.string(call["type"], f"{where}.type")
    if kind == "function":
        fn = c.obj(call.get("function"), f"{where}.function")
        c.string(fn.get("name"), f"{where}.function.name", non_empty=True)
        c.opt_string(fn.get("arguments"), f"{where}.function.arguments")
    elif kind == "custom":
        custom = c.obj(call.get("custom"), f"{where}.custom")
        c.string(custom.get("name"), f"{where}.custom.name", non_empty=True)
        c.string(custom.get("input"), f"{where}.custom.input")
