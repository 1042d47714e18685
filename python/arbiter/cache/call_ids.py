"""A conversation's tool-call ids with their spelling taken out, for the cache keys.

Since every cache hit answers with tool-call ids of its own (a live call never repeats an id),
two agents asking the same question got the same calls under different ids, and their identical
follow-up turns (the calls and their results sent back) no longer shared an exact or semantic
entry. The ids say only which result answers which call: that pairing is kept, their spelling
is not. Each call gets the number of its place among the conversation's calls (`#0`, `#1`, ...)
and each result the number of the call it answers: the earliest call of its id not answered
yet, else the latest of that id (a client that reuses `call_0` every turn, as some servers
number them). Two conversations key alike only when their calls and results pair alike, so a hit
never pairs a result with another call than the one it answered. A result that answers no call
(the surfaces refuse it before the cache) keeps its id as it came.

The body is the client's: OpenAI chat (`tool_calls[].id`, a `tool` message's `tool_call_id`;
the Responses API is keyed by its chat view) or Anthropic (`tool_use.id`,
`tool_result.tool_use_id`). Only messages holding ids are copied; the rest are kept as they are.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from arbiter.canonical import Protocol


class _Numbering:
    """The calls' numbers by id, in order, with those still unanswered."""

    def __init__(self) -> None:
        self.count = 0
        self.open: dict[str, deque[str]] = {}
        self.latest: dict[str, str] = {}

    def call(self, given: Any) -> Any:
        if not isinstance(given, str):
            return given
        number = f"#{self.count}"
        self.count += 1
        self.open.setdefault(given, deque()).append(number)
        self.latest[given] = number
        return number

    def result(self, given: Any) -> Any:
        if not isinstance(given, str):
            return given
        waiting = self.open.get(given)
        if waiting:
            return waiting.popleft()
        return self.latest.get(given, given)


def without_call_ids(protocol: Protocol, messages: list[Any]) -> list[Any]:
    """`messages` with each tool-call id replaced by its call's number (module docstring)."""
    numbering = _Numbering()
    plain = _openai if protocol == "openai" else _anthropic
    out = messages
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        renamed = plain(msg, numbering)
        if renamed is not msg:
            if out is messages:
                out = list(messages)
            out[i] = renamed
    return out


def _openai(msg: dict[str, Any], numbering: _Numbering) -> dict[str, Any]:
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls:
        renamed = [
            {**c, "id": numbering.call(c.get("id"))} if isinstance(c, dict) and "id" in c else c
            for c in calls
        ]
        return {**msg, "tool_calls": renamed}
    if "tool_call_id" in msg:
        return {**msg, "tool_call_id": numbering.result(msg["tool_call_id"])}
    return msg


def _anthropic(msg: dict[str, Any], numbering: _Numbering) -> dict[str, Any]:
    content = msg.get("content")
    if not isinstance(content, list):
        return msg
    renamed: list[Any] | None = None
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_use" and "id" in block:
            block = {**block, "id": numbering.call(block["id"])}
        elif kind == "tool_result" and "tool_use_id" in block:
            block = {**block, "tool_use_id": numbering.result(block["tool_use_id"])}
        else:
            continue
        if renamed is None:
            renamed = list(content)
        renamed[j] = block
    return msg if renamed is None else {**msg, "content": renamed}
