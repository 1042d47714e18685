"""What an upstream answered, choice by choice: text, finish reason and tool calls, read from the
answer's own body (OpenAI `choices[].message`, Anthropic `content` blocks), and the tools the
request offered. Pure functions over already-parsed JSON; grading reads these, off the request
path.

A malformed part is skipped, never raised: the answer was already relayed to the client, and
grading is best effort.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from arbiter.canonical import Protocol
from arbiter.protocols.anthropic_response import stop_reason_in
from arbiter.protocols.openai_response import content_text, finish_reason_out

__all__ = ["Choice", "OfferedTools", "StreamedCalls", "ToolCall", "choices_of", "offered_tools"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # the arguments' JSON text (Anthropic's parsed `input` is written back)
    truncated: bool = False  # a streamed call's arguments were longer than STREAMED_ARGS_CAP


STREAMED_ARGS_CAP: Final = 65_536  # characters of arguments kept per relayed stream


class StreamedCalls:
    """Tool calls reassembled from a relayed stream's pieces (OpenAI `delta.tool_calls`,
    canonical BlockStart/ToolArgsDelta), keeping at most STREAMED_ARGS_CAP characters in all."""

    __slots__ = ("_kept", "_names", "_parts", "_truncated")

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._parts: dict[int, list[str]] = {}
        self._truncated: set[int] = set()
        self._kept = 0

    def start(self, index: int, name: str) -> None:
        if len(self._names) < 128:
            self._names.setdefault(index, name)

    def args(self, index: int, piece: str) -> None:
        if index not in self._names:
            return
        if self._kept + len(piece) > STREAMED_ARGS_CAP:
            self._truncated.add(index)
            return
        self._kept += len(piece)
        self._parts.setdefault(index, []).append(piece)

    def openai_delta(self, calls: Any) -> None:
        """One chunk's `delta.tool_calls`."""
        for item in calls if isinstance(calls, list) else ():
            if not isinstance(item, Mapping) or not isinstance(item.get("index"), int):
                continue
            fn = item.get("function")
            if not isinstance(fn, Mapping):
                continue
            if isinstance(fn.get("name"), str):
                self.start(item["index"], fn["name"])
            if isinstance(fn.get("arguments"), str):
                self.args(item["index"], fn["arguments"])

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(name, "".join(self._parts.get(i, ())), i in self._truncated)
            for i, name in sorted(self._names.items())
        )


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    finish_reason: str | None  # OpenAI's words: "stop", "length", "tool_calls", ...
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class OfferedTools:
    """The request's tools: name -> JSON schema of the arguments (None: a tool without one, e.g.
    a provider's builtin or OpenAI's `custom`), the name a `tool_choice` forces, if any, and
    whether `tool_choice` forbids a call (OpenAI's "none", Anthropic's {"type": "none"}) or
    requires one (OpenAI's "required", Anthropic's {"type": "any"}; a forced name does too)."""

    schemas: Mapping[str, Mapping[str, Any] | None]
    forced: str | None = None
    forbidden: bool = False
    required: bool = False


def choices_of(body: Any, protocol: Protocol) -> list[Choice]:
    """Every choice of an answer body in `protocol` (Anthropic has exactly one)."""
    if not isinstance(body, Mapping):
        return []
    if protocol == "anthropic":
        return _anthropic_choice(body)
    out: list[Choice] = []
    choices = body.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, Mapping):
            continue
        message = choice.get("message")
        message = message if isinstance(message, Mapping) else {}
        content = content_text(message.get("content"))
        finish = choice.get("finish_reason")
        out.append(
            Choice(
                content or "",
                finish if isinstance(finish, str) else None,
                _openai_calls(message),
            )
        )
    return out


def _openai_calls(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    calls: list[ToolCall] = []
    raw = message.get("tool_calls")
    for item in raw if isinstance(raw, list) else ():
        fn = item.get("function") if isinstance(item, Mapping) else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            args = fn.get("arguments")
            calls.append(ToolCall(fn["name"], args if isinstance(args, str) else ""))
    legacy = message.get("function_call")  # the deprecated `functions` API
    if isinstance(legacy, Mapping) and isinstance(legacy.get("name"), str):
        args = legacy.get("arguments")
        calls.append(ToolCall(legacy["name"], args if isinstance(args, str) else ""))
    return tuple(calls)


def _anthropic_choice(body: Mapping[str, Any]) -> list[Choice]:
    blocks = body.get("content")
    if not isinstance(blocks, list):
        return []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for b in blocks:
        if not isinstance(b, Mapping):
            continue
        if b.get("type") == "text" and isinstance(b.get("text"), str):
            texts.append(b["text"])
        elif b.get("type") == "tool_use" and isinstance(b.get("name"), str):
            try:
                args = orjson.dumps(b.get("input")).decode()
            except (TypeError, orjson.JSONEncodeError):
                args = ""
            calls.append(ToolCall(b["name"], args))
    stop = body.get("stop_reason")
    finish = finish_reason_out(stop_reason_in(stop)) if isinstance(stop, str) else None
    return [Choice("".join(texts), finish, tuple(calls))]


def offered_tools(body: Mapping[str, Any], protocol: Protocol) -> OfferedTools | None:
    """The tools a request body (in the client's `protocol`) offers; None when it offers none."""
    schemas: dict[str, Mapping[str, Any] | None] = {}
    tools = body.get("tools")
    for t in tools if isinstance(tools, list) else ():
        if not isinstance(t, Mapping):
            continue
        if protocol == "anthropic":
            name, schema = t.get("name"), t.get("input_schema")
        else:
            fn = t.get("function") if t.get("type", "function") == "function" else t.get("custom")
            # the Responses API's tools are flat: {"type": "function", "name", "parameters"}
            fn = fn if isinstance(fn, Mapping) else t
            name, schema = fn.get("name"), fn.get("parameters")
            if t.get("type", "function") == "function" and schema is None:
                schema = {"type": "object"}  # OpenAI: omitted parameters = an empty object
        if isinstance(name, str):
            schemas[name] = schema if isinstance(schema, Mapping) else None
    functions = body.get("functions") if protocol == "openai" else None
    for fn in functions if isinstance(functions, list) else ():
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            schemas[fn["name"]] = params if isinstance(params, Mapping) else {"type": "object"}
    if not schemas:
        return None
    choice = body.get("tool_choice")
    forced = _forced(choice, protocol)
    kind = choice.get("type") if isinstance(choice, Mapping) else choice
    forbidden = kind == "none"  # the same word in both protocols
    required = forced is not None or kind == ("any" if protocol == "anthropic" else "required")
    return OfferedTools(schemas, forced, forbidden, required)


def _forced(choice: Any, protocol: Protocol) -> str | None:
    if not isinstance(choice, Mapping):
        return None
    if protocol == "anthropic":
        name = choice.get("name") if choice.get("type") == "tool" else None
    else:
        fn = choice.get("function")
        # Chat Completions nests the name under `function`; the Responses API's is flat
        fn = fn if isinstance(fn, Mapping) else choice if choice.get("type") == "function" else {}
        name = fn.get("name")
    return name if isinstance(name, str) else None
