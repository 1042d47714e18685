"""OpenAI's rules for a function's name: 1-64 of [a-zA-Z0-9_-], and no two functions of one name
in a request; an earlier call's name (an assistant message's `tool_calls[j].function.name`) of
[a-zA-Z0-9_-] too, its 400 "Invalid 'messages[9].tool_calls[0].function.name': string does not
match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'", and of at most
64 ("... string too long. Expected a string with maximum length 64, but got a string with
length 79 instead.": an MCP tool's name of Anthropic's 65-128 in a replayed turn). Unchecked, a
name like `crm.lookup` (MCP clients make them) or a tool listed twice was routed and its worst
case reserved, then refused by OpenAI after the call (an answer from a model that took it,
other times). Pure; a scan of the characters, no pattern to backtrack."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

MAX_FUNCTION_NAME = 64
FUNCTION_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
# what a faulty name should be, in the words of the surfaces' "Input should be ..." errors
NAME_RULE = f"a string matching the pattern '^[a-zA-Z0-9_-]{{1,{MAX_FUNCTION_NAME}}}$'"
# an earlier call's name (and a participant's): OpenAI's pattern there; an earlier call's
# length is bounded apart (call_name_fault), a participant's not at all
CALL_NAME_RULE = "a string matching the pattern '^[a-zA-Z0-9_-]+$'"


def name_fits(name: str) -> bool:
    """Whether a non-empty `name` is one OpenAI takes for a function."""
    return len(name) <= MAX_FUNCTION_NAME and FUNCTION_NAME_CHARS.issuperset(name)


def call_name_fits(name: str) -> bool:
    """Whether a non-empty `name` is of the characters OpenAI takes in an earlier call's (and
    a participant's) name."""
    return FUNCTION_NAME_CHARS.issuperset(name)


def call_name_fault(name: str) -> str | None:
    """What a non-empty earlier call's `name` should be, in the surfaces' "Input should be
    ..." words, when OpenAI refuses it; else None."""
    if not FUNCTION_NAME_CHARS.issuperset(name):
        return CALL_NAME_RULE
    if len(name) > MAX_FUNCTION_NAME:
        return (
            f"a string of at most {MAX_FUNCTION_NAME} characters (got one of {len(name)}: "
            "OpenAI refuses it as an earlier call's name)"
        )
    return None


def check_function_name(name: str, param: str) -> str:
    if not name_fits(name):
        shown = f"{name[:64]!r}{'...' if len(name) > 64 else ''}"
        raise InvalidRequest(f"{param}: Input should be {NAME_RULE} (got {shown})", param=param)
    return name


def schema_name(raw: object, param: str) -> str:
    """A JSON schema response format's `name` (chat's `response_format.json_schema.name`, the
    Responses API's `text.format.name`): OpenAI's rule is a function name's. Unchecked, `auto`
    answered one like "Order summary" when it routed to a model that ignores the name, and
    OpenAI refused it after routing."""
    return check_function_name(c.string(raw, param, non_empty=True), param)


def unique_function_names(names: Sequence[str], where: Callable[[int], str]) -> None:
    """A 400 naming the second function of a name given twice; `where(i)` is the field of the
    i-th name (formatted only for the fault: agents send dozens of tools every turn)."""
    if len(set(names)) == len(names):
        return
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise InvalidRequest(
                f"Invalid '{where(i)}': duplicate function name {name[:64]!r} (also at "
                f"'{where(seen[name])}'). Function names must be unique.",
                param=where(i),
            )
        seen[name] = i
