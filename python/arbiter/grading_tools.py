"""Grading an answer that is a tool call: the function exists in the request's tools (and is the
one `tool_choice` forces), its arguments parse as a JSON object and validate against that tool's
JSON schema (required fields included). Pure functions, no I/O, off the request path.

Bounded work: arguments over MAX_ARGUMENT_CHARS are not parsed, and a schema over
MAX_SCHEMA_CHARS or MAX_SCHEMA_DEPTH is not validated (the arguments must still parse). Schema
`pattern`s run on the linear-time matcher (arbiter.linear), never Python's backtracking `re`: the
schema is the client's and the arguments the upstream's; a schema with `patternProperties` (which
jsonschema would match with `re`) is parse-checked only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import jsonschema
import orjson
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing.exceptions import Unresolvable

from arbiter import linear
from arbiter.answer_choices import OfferedTools, ToolCall
from arbiter.grading import Grade
from arbiter.json_depth import MAX_JSON_NESTING, nests_deeper_than

__all__ = ["MAX_ARGUMENT_CHARS", "describe_calls", "describe_tools", "grade_tool_calls"]

MAX_ARGUMENT_CHARS: Final = 65_536
MAX_SCHEMA_CHARS: Final = 32_768
MAX_SCHEMA_DEPTH: Final = 32
_GRADER: Final = "tool_call"
_BAD_ARGS: Final = 0.2  # the right function with arguments its schema refuses (as json_schema)


def grade_tool_calls(calls: Sequence[ToolCall], tools: OfferedTools | None) -> Grade:
    """The worst of the calls' grades (one bad call spoils the turn)."""
    if not calls:
        return Grade(0.0, _GRADER, "no tool call")
    grades = [_grade_one(c, tools) for c in calls]
    worst = min(grades, key=lambda g: g.score)
    if len(grades) == 1 or worst.score < 1.0:
        return worst
    return Grade(1.0, _GRADER, f"{len(grades)} calls valid against their schemas")


def _grade_one(call: ToolCall, tools: OfferedTools | None) -> Grade:
    name = call.name[:60]
    if tools is None or call.name not in tools.schemas:
        return Grade(0.0, _GRADER, f"called {name!r}, which the request's tools do not offer")
    if tools.forbidden:
        return Grade(0.0, _GRADER, f"called {name!r}, tool_choice forbids a call")
    if tools.forced is not None and call.name != tools.forced:
        return Grade(0.0, _GRADER, f"called {name!r}, tool_choice forced {tools.forced[:60]!r}")
    if call.truncated or len(call.arguments) > MAX_ARGUMENT_CHARS:
        return Grade(0.5, _GRADER, f"{name}: arguments too long to check ({len(call.arguments)})")
    try:
        args = _loads(call.arguments or "{}")
    except ValueError as err:
        return Grade(0.0, _GRADER, f"{name}: arguments are not JSON: {err}"[:200])
    if not isinstance(args, dict):
        return Grade(0.0, _GRADER, f"{name}: arguments are a {type(args).__name__}, not an object")
    schema = tools.schemas[call.name]
    if schema is None:
        return Grade(1.0, _GRADER, f"{name}: arguments parse (the tool has no schema)")
    why_not = _unchecked_schema(schema)
    if why_not is not None:
        return Grade(1.0, _GRADER, f"{name}: arguments parse (schema not validated: {why_not})")
    try:
        canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()
        error = best_match(_validator_for(canonical).iter_errors(args))
    except RecursionError:
        return Grade(_BAD_ARGS, _GRADER, f"{name}: arguments nested too deeply to validate")
    except (SchemaError, Unresolvable, TypeError, orjson.JSONEncodeError) as err:
        return Grade(1.0, _GRADER, f"{name}: arguments parse (schema unusable: {err})"[:200])
    if error is None:
        return Grade(1.0, _GRADER, f"{name}: arguments valid against the tool's schema")
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    return Grade(_BAD_ARGS, _GRADER, f"{name}: argument error at {where}: {error.message}"[:200])


def _loads(text: str) -> Any:
    if nests_deeper_than(text):  # the validator would recurse past the interpreter's limit
        raise ValueError(f"nested more than {MAX_JSON_NESTING} levels deep")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise ValueError(str(err).split(":", 1)[0]) from None


def _unchecked_schema(schema: Mapping[str, Any]) -> str | None:
    """Why a schema is not validated (too large, too deep, regex keys jsonschema runs in `re`)."""
    try:
        size = len(orjson.dumps(schema))
    except (TypeError, orjson.JSONEncodeError):
        return "not JSON"
    if size > MAX_SCHEMA_CHARS:
        return f"{size} characters"
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"deeper than {MAX_SCHEMA_DEPTH}"
        if isinstance(node, Mapping):
            if "patternProperties" in node:
                return "patternProperties"
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return None


@lru_cache(maxsize=1024)
def _linear(pattern: str) -> linear.Pattern | None:
    try:
        return linear.compile(pattern)
    except ValueError:  # lookaround, backreferences: would need backtracking
        return None


def _linear_pattern(
    validator: Any, pattern: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """jsonschema's `pattern` keyword on the linear-time matcher; a pattern it cannot compile is
    not checked (a lenient grade beats a regex that can backtrack for minutes)."""
    if not validator.is_type(instance, "string") or not isinstance(pattern, str):
        return
    compiled = _linear(pattern)
    if compiled is not None and compiled.search(instance) is None:
        yield ValidationError(f"{instance[:40]!r} does not match {pattern[:60]!r}")


_LinearDraft = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"pattern": _linear_pattern}
)


@lru_cache(maxsize=256)
def _validator_for(canonical_schema: str) -> Any:
    schema = json.loads(canonical_schema)
    _LinearDraft.check_schema(schema)
    return _LinearDraft(schema)


# --- what the judge sees -----------------------------------------------------------------------
_DESCRIBE_ARGS: Final = 2000
_DESCRIBE_TOOLS: Final = 3000


def describe_calls(text: str, calls: Sequence[ToolCall]) -> str:
    """The answer as the judge reads it: its text, then each call with its arguments."""
    lines = [text.strip()] if text.strip() else []
    for c in calls:
        args = c.arguments if len(c.arguments) <= _DESCRIBE_ARGS else c.arguments[:_DESCRIBE_ARGS]
        lines.append(f"(tool call) {c.name}({args})")
    return "\n".join(lines)


def describe_tools(tools: OfferedTools) -> str:
    """The tools offered, for the judge's question: one line per tool with its schema."""
    lines = ["The assistant may answer by calling one of these tools:"]
    size = len(lines[0])
    for name, schema in tools.schemas.items():
        if size > _DESCRIBE_TOOLS:  # the rest is past the cut: not written (20,000 tools
            break  # offered were 20,000 schemas dumped on the loop for 3,000 characters)
        text = orjson.dumps(schema).decode() if schema is not None else "(no schema)"
        lines.append(f"- {name}: {text}")
        size += len(lines[-1]) + 1
    if tools.forced is not None:
        lines.append(f"The request forced a call to {tools.forced}.")
    out = "\n".join(lines)
    return out if len(out) <= _DESCRIBE_TOOLS else out[:_DESCRIBE_TOOLS] + " …"


# what grading.py's response_format check shares (jsonschema's own `pattern` runs Python's
# backtracking `re` on text the upstream wrote, with a pattern the client wrote)
unchecked_schema = _unchecked_schema
linear_validator = _validator_for
