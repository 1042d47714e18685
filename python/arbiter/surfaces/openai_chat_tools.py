"""A chat request's tool fields checked for shape before routing (the spec's
CreateChatCompletionRequest): `tools`, the deprecated `functions` and `function_call`, and an
earlier assistant message's `tool_calls` / `function_call`.

Unchecked, a bad shape (`tools: "x"`, a function without a name, a call's `arguments` sent as
an object rather than JSON text) went to an OpenAI-protocol upstream as it came: OpenAI answers
400 after routing (a failed attempt the caller sees as "upstream ... returned HTTP 400"), an
OpenAI-compatible server guessed, and `tools: "x"` even counted as tools when routing. Only what
the spec forbids is refused: a tool or call of a type the spec does not name passes on, as
compatible servers take their own (the canonical decoder reads those for Anthropic models).

Every chat request with tools pays for these checks, so a field's path (`tools[3].function.name`)
is formatted only when it is at fault: each object's check returns the first faulty field and
what it should be, or None (formatting every path cost ~3 us a tool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols.function_names import (
    CALL_NAME_RULE,
    NAME_RULE,
    call_name_fault,
    call_name_fits,
    name_fits,
    unique_function_names,
)
from arbiter.protocols.openai_call_ids import MAX_CALL_ID
from arbiter.protocols.openai_strict import check_strict_function

_FUNCTION_CALL_WORDS = ("none", "auto")
TOOL_FIELDS = frozenset({"tools", "functions", "function_call"})
Fault = tuple[str, str] | None  # (the faulty field under the object checked, what it must be)

_OBJECT, _LIST, _STRING, _NAME, _BOOL = (
    "an object", "a list", "a valid string", "a non-empty string", "a valid boolean",
)  # fmt: skip


def check_tool_fields(body: dict[str, Any]) -> None:
    """`tools`, `functions` and `function_call`, each when present (null means unset)."""
    if TOOL_FIELDS.isdisjoint(body):
        return
    tools = body.get("tools")
    if tools is not None:
        _each(tools, "tools", _tool_fault)
        _known_function_fields(tools)
        for i, tool in enumerate(tools):  # OpenAI's strict mode's subset (openai_strict.py)
            if tool.get("type") == "function":
                check_strict_function(tool["function"], f"tools[{i}].function")
        _unique_functions(tools, "tools", nested=True)
    functions = body.get("functions")
    if functions is not None:
        _each(functions, "functions", _function_fault)
        _unique_functions(functions, "functions", nested=False)
    call = body.get("function_call")
    if call is not None and call not in _FUNCTION_CALL_WORDS:
        if not isinstance(call, dict):
            raise InvalidRequest(
                "Invalid value for 'function_call': use 'none', 'auto' or {\"name\": ...}.",
                param="function_call",
            )
        _raise("function_call", _name_fault(call, "name"))


def check_message_calls(msg: dict[str, Any], i: int) -> None:
    """Assistant message `i`'s `tool_calls` (each: an id, and a function's name and JSON-text
    arguments, or a custom tool's name and input) and deprecated `function_call`."""
    calls = msg.get("tool_calls")
    if calls is not None and (not isinstance(calls, list) or any(map(_call_fault, calls))):
        _each(calls, f"messages[{i}].tool_calls", _call_fault)
    call = msg.get("function_call")
    if call is not None and (fault := _function_call_fault(call) or _call_name_fault(call)):
        _raise(f"messages[{i}].function_call", fault)


def check_participant_name(name: str, i: int) -> None:
    """Message `i`'s non-empty `name`, which OpenAI holds to its call names' pattern ("Invalid
    'messages[5].name': string does not match pattern. Expected a string that matches the
    pattern '^[a-zA-Z0-9_-]+$'"): a speaker named `Dr. Smith` was its 400 after routing, and
    answered whenever `auto` picked an Anthropic model (which drops the name). An empty one is
    OpenAI's "Invalid 'messages[2].name': empty string. Expected a string with minimum length
    1, but got an empty string instead." (the spec sets no pattern; the API holds it to one)."""
    if not name:
        param = f"messages[{i}].name"
        raise InvalidRequest(
            f"Invalid '{param}': empty string. Expected a string with minimum length 1, but got "
            "an empty string instead.",
            param=param,
        )
    if not call_name_fits(name):
        _raise(f"messages[{i}]", ("name", CALL_NAME_RULE))


_NAMED_TOOLS = ("function", "custom")  # the tool types the model calls by a name of its own
_TOOL_KEYS = frozenset({"type", "function"})  # the spec's ChatCompletionTool
_FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})  # FunctionObject


def _known_function_fields(tools: list[Any]) -> None:
    """A function tool (its shape already checked) holds only the spec's fields, as the
    Responses API's do (a 400, OpenAI's `Unknown parameter`): a misspelt `paramters` sent the
    tool to the model with no arguments at all (a 200, the model calling f({}))."""
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            continue
        fn = tool["function"]
        for where, obj, known in (
            (f"tools[{i}]", tool, _TOOL_KEYS), (f"tools[{i}].function", fn, _FUNCTION_KEYS)
        ):  # fmt: skip
            if not known.issuperset(obj):
                key = next(str(k) for k in obj if k not in known)
                raise InvalidRequest(
                    f"Unknown parameter: '{where}.{key[:64]}'.", param=f"{where}.{key}"
                )


def _unique_functions(items: list[Any], where: str, *, nested: bool) -> None:
    """Every function's name (its shape already checked) once: `nested`, the function and
    custom tools among `tools` (one name space: the model calls either by its name, and
    OpenAI refuses a custom tool named as a function; a tool of another type is left to its
    server), else `functions`."""
    if not nested:
        unique_function_names([f["name"] for f in items], lambda k: f"{where}[{k}].name")
        return
    at = [i for i, item in enumerate(items) if item.get("type") in _NAMED_TOOLS]
    names = [items[i][items[i]["type"]]["name"] for i in at]
    unique_function_names(names, lambda k: f"{where}[{at[k]}].{items[at[k]]['type']}.name")


def _each(items: Any, where: str, fault_of: Callable[[Any], Fault]) -> None:
    if not isinstance(items, list):
        _raise(where, ("", _LIST))
    for i, item in enumerate(items):
        if (fault := fault_of(item)) is not None:
            _raise(f"{where}[{i}]", fault)


def _raise(where: str, fault: Fault) -> None:
    if fault is not None:
        field, want = fault
        param = f"{where}.{field}" if field else where
        raise InvalidRequest(f"{param}: Input should be {want}", param=param)


def _under(prefix: str, fault: Fault) -> Fault:
    """A fault of a nested object, named from the object above it."""
    return None if fault is None else (f"{prefix}.{fault[0]}" if fault[0] else prefix, fault[1])


def _name_fault(obj: dict[str, Any], key: str) -> Fault:
    value = obj.get(key)
    return None if isinstance(value, str) and value else (key, _NAME)


def _opt_string_fault(obj: dict[str, Any], key: str) -> Fault:
    value = obj.get(key)
    return None if value is None or isinstance(value, str) else (key, _STRING)


def _tool_fault(tool: Any) -> Fault:
    if not isinstance(tool, dict):
        return ("", _OBJECT)
    kind = tool.get("type")
    if kind == "function":
        fault = _function_fault(tool.get("function"))
        return None if fault is None else _under("function", fault)
    if kind == "custom":
        return _under("custom", _custom_tool_fault(tool.get("custom")))
    return None if isinstance(kind, str) and kind else ("type", _NAME)


def _function_fault(fn: Any) -> Fault:
    # one function, no helper calls: agents send dozens of tools on every turn
    if not isinstance(fn, dict):
        return ("", _OBJECT)
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return ("name", _NAME)
    if not name_fits(name):  # OpenAI's rule (function_names.py)
        return ("name", NAME_RULE)
    description = fn.get("description")
    if description is not None and not isinstance(description, str):
        return ("description", _STRING)
    parameters = fn.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return ("parameters", _OBJECT)
    strict = fn.get("strict")
    return None if strict is None or isinstance(strict, bool) else ("strict", _BOOL)


def _custom_tool_fault(custom: Any) -> Fault:
    if not isinstance(custom, dict):
        return ("", _OBJECT)
    if fault := _name_fault(custom, "name") or _opt_string_fault(custom, "description"):
        return fault
    if not name_fits(custom["name"]):  # the model calls it by name, as a function
        return ("name", NAME_RULE)
    fmt = custom.get("format")
    return None if fmt is None or isinstance(fmt, dict) else ("format", _OBJECT)


def _call_fault(call: Any) -> Fault:
    if not isinstance(call, dict):
        return ("", _OBJECT)
    if fault := _name_fault(call, "id"):
        return fault
    if len(call["id"]) > MAX_CALL_ID:  # OpenAI's 400 ("string too long") after routing
        return (
            "id",
            f"a string of at most {MAX_CALL_ID} characters (got one of {len(call['id'])})",
        )
    # no type is read as a function call (as the canonical decoder and many clients do), and
    # no arguments as none: what every upstream took; a wrong type is no call anyone reads
    kind = call.get("type")
    if kind is None or kind == "function":
        fn = call.get("function")
        return _under("function", _function_call_fault(fn) or _call_name_fault(fn))
    if kind == "custom":
        custom = call.get("custom")
        if not isinstance(custom, dict):
            return ("custom", _OBJECT)
        input_fault = None if isinstance(custom.get("input"), str) else ("input", _STRING)
        return _under(
            "custom", _name_fault(custom, "name") or _call_name_fault(custom) or input_fault
        )
    return None if isinstance(kind, str) else ("type", _STRING)


def _call_name_fault(call: Any) -> Fault:
    """An earlier call's name as OpenAI takes it (`call`: an object whose name the shape check
    found a non-empty string): a call to a tool named `crm.lookup`, or one of 65-128
    characters (an MCP tool's), replayed from another provider's answer was its 400 after
    routing."""
    want = call_name_fault(call["name"])
    return None if want is None else ("name", want)


def _function_call_fault(fn: Any) -> Fault:
    """A call's function: its name, and its arguments as JSON text when given."""
    if not isinstance(fn, dict):
        return ("", _OBJECT)
    return _name_fault(fn, "name") or _opt_string_fault(fn, "arguments")
