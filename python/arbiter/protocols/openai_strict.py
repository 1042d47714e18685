"""A strict function tool's `parameters` held to OpenAI's strict mode on the OpenAI surfaces
(Chat Completions and the Responses API). Pure.

OpenAI's structured outputs take a subset of JSON Schema ("Supported schemas"): the root an
object, every object closed by saying `additionalProperties: false`, every property listed in
`required` (an optional one is a nullable type instead), and none of the composition keywords
`allOf`, `not`, `if` / `then` / `else`, `dependentRequired`, `dependentSchemas`. A strict tool
outside it was OpenAI's 400 after routing (a reserved budget, a failover try), or a 200 from a
model of another protocol under `auto`: it is refused before any upstream call, naming the
tool's `parameters` as OpenAI does, in its words ("Invalid schema for function ...: In
context=(...), ..."). Only what those rules name is refused: OpenAI's other limits (sizes,
depth) and keywords it documents as supported are left to it.

A strict `json_schema` response format (chat's `response_format.json_schema`, the Responses
API's `text.format`) is held to the same rules (OpenAI's "Invalid schema for response_format
'NAME': ..."), naming `response_format` on chat and `text.format.schema` on Responses, as
OpenAI's 400 does.

An Anthropic client's strict tool is not held here: Anthropic's strict mode takes optional
properties, and such a tool is kept from OpenAI models by compat.untranslatable.
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest

__all__ = [
    "InvalidJsonSchema",
    "check_strict_format",
    "check_strict_function",
    "strict_schema_problem",
]

_UNSUPPORTED = frozenset({
    "allOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas",
})  # fmt: skip
# where a schema holds schemas: named ones, and lists of branches
_NAMED = ("properties", "$defs", "definitions")
_BRANCHES = ("anyOf", "oneOf", "prefixItems")
_HOLDERS = frozenset({*_NAMED, *_BRANCHES, "items"})
_WALKED = _HOLDERS | _UNSUPPORTED
_SHOWN = 64  # characters of a client's key shown in a message


def check_strict_function(fn: dict[str, Any], param: str) -> None:
    """A function (a chat tool's `function`, a Responses tool) whose `strict` is true and whose
    `parameters` OpenAI's strict mode refuses: InvalidRequest naming `{param}.parameters`. Its
    shape is checked already. A function without parameters gets the empty object Arbiter
    sends for it, and is not held here."""
    schema = fn.get("parameters")
    if fn.get("strict") is not True or not isinstance(schema, dict) or not schema:
        return
    if (problem := strict_schema_problem(schema)) is not None:
        raise InvalidRequest(
            f"Invalid schema for function {str(fn.get('name'))[:_SHOWN]!r}: {problem}",
            param=f"{param}.parameters",
        )


class InvalidJsonSchema(InvalidRequest):
    """The Responses API's code for a format's schema it refuses (Chat Completions says none)."""

    code = "invalid_json_schema"


def check_strict_format(
    schema: Any, name: Any, strict: Any, param: str, *, responses: bool = False
) -> None:
    """A strict `json_schema` response format whose `schema` OpenAI's strict mode refuses:
    InvalidRequest naming `param` (`responses`: with the Responses API's code). Its shape is
    checked already; a missing schema is left as it was (chat's is optional)."""
    if strict is not True or not isinstance(schema, dict):
        return
    if (problem := strict_schema_problem(schema)) is not None:
        error = InvalidJsonSchema if responses else InvalidRequest
        raise error(
            f"Invalid schema for response_format {str(name)[:_SHOWN]!r}: {problem}", param=param
        )


def strict_schema_problem(schema: dict[str, Any]) -> str | None:
    """What OpenAI's strict mode refuses in a function's `parameters` or a response format's
    `schema` (after "Invalid schema for function 'NAME': "), or None."""
    kind = schema.get("type")
    if kind != "object":
        shown = str(kind)[:_SHOWN]
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{shown}\"'."
    return _problem(schema, ())


def _problem(schema: Any, context: tuple[str, ...]) -> str | None:
    if not isinstance(schema, dict):
        return None
    if not _UNSUPPORTED.isdisjoint(schema):
        key = next(k for k in schema if k in _UNSUPPORTED)
        return f"{_where(context)}, '{key}' is not permitted."
    props = schema.get("properties")
    kind = schema.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or props is not None:
        if schema.get("additionalProperties") is not False:
            return (
                f"{_where(context)}, 'additionalProperties' is required to be supplied and to "
                "be false."
            )
        required = schema.get("required")
        # a set: a list's `in` made a wide object's check quadratic (40 properties: 3x slower)
        named = {k for k in required if type(k) is str} if isinstance(required, list) else ()
        for key in props if isinstance(props, dict) else ():
            if key not in named:
                return (
                    f"{_where(context)}, 'required' is required to be supplied and to be an "
                    f"array including every key in properties. Missing '{str(key)[:_SHOWN]}'."
                )
    for path, sub in _subschemas(schema):
        if (problem := _problem(sub, (*context, *path))) is not None:
            return problem
    return None


def _where(context: tuple[str, ...]) -> str:
    """OpenAI's words for where in the schema: `In context=('properties', 'city')`."""
    return f"In context={tuple(k[:_SHOWN] for k in context)!r}"


def _subschemas(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    """The schemas `schema` holds, each with its path, but for plain leaves (a typed scalar:
    most properties), which hold nothing to refuse."""
    out: list[tuple[tuple[str, ...], Any]] = []
    if _HOLDERS.isdisjoint(schema):
        return out
    for key in _NAMED:
        if type(named := schema.get(key)) is dict:
            out.extend(((key, str(k)), v) for k, v in named.items() if not _plain(v))
    for key in _BRANCHES:
        if type(branches := schema.get(key)) is list:
            out.extend(((key, str(i)), b) for i, b in enumerate(branches) if not _plain(b))
    if type(items := schema.get("items")) is dict and not _plain(items):
        out.append((("items",), items))
    return out


def _plain(schema: Any) -> bool:
    """A schema _problem has nothing to say of: no object, nothing held, nothing refused."""
    return type(schema) is not dict or (
        _WALKED.isdisjoint(schema) and type(kind := schema.get("type")) is str and kind != "object"
    )
