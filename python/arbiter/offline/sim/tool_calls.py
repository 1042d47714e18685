"""When a simulated model answers with a tool call, and the call's arguments.

As the real APIs do: `tool_choice` "none" never calls; a named tool ("function" / Anthropic's
"tool") or "required" / "any" always calls (the named one, else one drawn); "auto" (the default
with tools) calls when the latest user turn names a tool (its name, or every word of its name
but the verbs: "weather" for `get_weather`) and is not a tool's result (after a result the model
answers in text). One call per answer. The arguments are an instance of the tool's JSON schema
(required keys, enums, bounds, lengths, formats, nested objects and arrays; `anyOf`/`oneOf`
take a branch; a local `$ref` (`#/$defs/X`, as pydantic writes nested models) is followed; a
`pattern` is not followed), drawn from the Random handed in: the simulator
gives it its own stream per request, so the same seed and prompt give the same call and no
other draw moves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

from arbiter.canonical import CanonicalRequest, TextPart, Tool, ToolResultPart

_MAX_DEPTH = 6  # a schema nested deeper (or recursive) gets null / {} / [] there
# the most values one call's arguments hold, and the longest string: a client's schema (say
# minItems = 10**9, nested) cannot make the simulator build a huge value; past them a value may
# fall short of the schema's minimums
_MAX_VALUES = 2_000
_MAX_CHARS = 4_096
# a tool name's verbs; its other words are what a prompt that wants the tool talks about
_VERBS = frozenset({
    "get", "set", "list", "fetch", "find", "search", "lookup", "look", "create", "update",
    "delete", "add", "remove", "run", "call", "check", "send", "make",
})  # fmt: skip
_WORDS = ("alpha", "bravo", "delta", "paris", "berlin", "report", "summary", "example")


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text of an object, as a model writes it

    def input(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.arguments)
        return value


def pick(req: CanonicalRequest, rng: Random) -> ToolCall | None:
    """The call this request gets, or None for a text answer."""
    tools = [t for t in req.tools if t.builtin is None]
    if not tools:
        return None
    choice = req.tool_choice
    kind = "auto" if choice is None else choice.kind
    if kind == "none":
        return None
    if kind == "named":
        tool = next((t for t in tools if choice is not None and t.name == choice.name), None)
    elif kind == "any":
        tool = tools[rng.randrange(len(tools))]
    else:
        tool = _named_in_prompt(req, tools)
    if tool is None:
        return None
    schema = tool.parameters if isinstance(tool.parameters, Mapping) else {}
    value = instance(schema or {"type": "object"}, rng)
    if not isinstance(value, dict):
        value = {}
    return ToolCall(tool.name, json.dumps(value, separators=(",", ":")))


def _named_in_prompt(req: CanonicalRequest, tools: Sequence[Tool]) -> Tool | None:
    last = req.messages[-1] if req.messages else None
    if last is None or last.role != "user":
        return None
    if any(isinstance(p, ToolResultPart) for p in last.parts):
        return None  # the tool answered: now the model writes its reply
    text = " ".join(p.text for p in last.parts if isinstance(p, TextPart)).lower()
    words = set("".join(ch if ch.isalnum() else " " for ch in text).split())
    for tool in tools:
        name = tool.name.lower()
        topic = set(name.replace("-", "_").split("_")) - _VERBS - {""}
        if name in words or (topic and topic <= words):
            return tool
    return None


def local_ref(schema: Mapping[str, Any], root: Any) -> Mapping[str, Any]:
    """What a local `$ref` in `schema` points at in `root` (`#/$defs/Name`, `#/definitions/
    Name`: JSON pointers), with the schema's own other keywords; without one, or one that
    points nowhere, the schema less its `$ref`. A recursive model's refs end at the depth
    bound of whoever follows them."""
    ref = schema.get("$ref")
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    if not isinstance(ref, str) or not ref.startswith("#"):
        return rest
    node: Any = root
    for key in ref[1:].split("/")[1:]:
        key = key.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            return rest
        node = node[key]
    return {**node, **rest} if isinstance(node, Mapping) else rest


def instance(
    schema: Any, rng: Random, depth: int = 0, left: list[int] | None = None, root: Any = None
) -> Any:
    """A value that validates against `schema` (the keywords models' tool schemas use).
    `left`: how many more values may be built (_MAX_VALUES for the whole call); `root`: the
    whole schema, where local `$ref`s point (`schema` itself at the top)."""
    left = [_MAX_VALUES] if left is None else left
    root = schema if root is None else root
    left[0] -= 1
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH or left[0] < 0:
        return None
    if "$ref" in schema:
        return instance(local_ref(schema, root), rng, depth + 1, left, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return instance(options[rng.randrange(len(options))], rng, depth + 1, left, root)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, Mapping):
                merged |= part
        return instance({**{k: v for k, v in schema.items() if k != "allOf"}, **merged}, rng,
                        depth + 1, left, root)  # fmt: skip
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _of_type(str(kind), schema, rng, depth, left, root)


def _of_type(
    kind: str, schema: Mapping[str, Any], rng: Random, depth: int, left: list[int], root: Any
) -> Any:
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = [k for k in schema.get("required") or [] if isinstance(k, str)]
        keys = [*required, *(k for k in props if k not in required and rng.random() < 0.5)]
        return {
            k: instance(props.get(k, {"type": "string"}), rng, depth + 1, left, root) for k in keys
        }
    if kind == "array":
        low = min(_int(schema.get("minItems"), 0), max(left[0], 0))
        high = max(low, min(_int(schema.get("maxItems"), low + 2), low + 2))
        least = min(max(low, 1), high)  # one item at least, where the schema allows one
        count = rng.randint(least, high)
        return [instance(schema.get("items", {}), rng, depth + 1, left, root) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(kind, schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _number(kind: str, schema: Mapping[str, Any], rng: Random) -> int | float:
    low = _bound(schema, "minimum", "exclusiveMinimum")
    high = _bound(schema, "maximum", "exclusiveMaximum")
    step = (
        1 if kind == "integer" else 1e-3
    )  # past an exclusive bound (the value is rounded to 1e-4)
    if low is not None and "minimum" not in schema:
        low += step
    if high is not None and "maximum" not in schema:
        high -= step
    low = low if low is not None else (high - 100 if high is not None else 0.0)
    high = high if high is not None else low + 100
    high = max(high, low)
    if kind == "integer":
        lo, hi = math.ceil(low), math.floor(high)
        return rng.randint(lo, max(lo, hi))
    return round(rng.uniform(low, high), 4) if high > low else low


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str) -> float | None:
    value = schema.get(inclusive, schema.get(exclusive))
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _string(schema: Mapping[str, Any], rng: Random) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    if fmt == "date-time":
        return f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z"
    if fmt == "email":
        return f"{_WORDS[rng.randrange(len(_WORDS))]}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{_WORDS[rng.randrange(len(_WORDS))]}"
    text = _WORDS[rng.randrange(len(_WORDS))]
    low = min(_int(schema.get("minLength"), 0), _MAX_CHARS)
    high = _int(schema.get("maxLength"), max(low, len(text)))
    while len(text) < low:
        text += text
    return text[: max(low, min(high, len(text)))]
