"""The cascade's check for a first answer that calls tools: judged by its calls, not its prose.

The cascade's rules (cascade.py, cascade_gain.py) read an answer's text: its length, hedges,
the math verifier's features, the expected-gain lines. A tool call has no text, so they
escalated every one (the gain rule's "no complete answer", a short answer under
`cascade_min_answer_tokens`): the cheap model's call was thrown away and the request paid the
strong model too, on nearly every turn of an agent. A first answer with tool calls (any choice
of it) is kept when its calls grade well (grading_tools: an offered tool, the one `tool_choice`
forces, arguments that are JSON and validate against the tool's schema) and escalated when one
does not. Pure; bounded by grading_tools' limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter.answer_choices import ToolCall, choices_of, offered_tools
from arbiter.canonical import Protocol
from arbiter.cascade import ESCALATE_BELOW
from arbiter.grading_tools import grade_tool_calls
from arbiter.types import ChatResult


def answer_calls(result: ChatResult) -> tuple[ToolCall, ...]:
    """The tool calls of every choice of an upstream answer (none: a prose answer)."""
    return tuple(call for choice in choices_of(result.body, result.protocol)
                 for call in choice.tool_calls)  # fmt: skip


def tool_call_escalation(
    calls: tuple[ToolCall, ...], request_body: Mapping[str, Any], protocol: Protocol
) -> tuple[bool, str]:
    """(escalate?, why) for a first answer whose tool calls are `calls`; `request_body` in the
    client's `protocol` names the tools it offered."""
    grade = grade_tool_calls(calls, offered_tools(request_body, protocol))
    if grade.score < ESCALATE_BELOW:
        return True, f"grader {grade.grader}: {grade.detail}"[:200]
    return False, f"grader {grade.grader}: {grade.score:.2f}"


def missing_required_call(
    request_body: Mapping[str, Any], protocol: Protocol
) -> tuple[bool, str] | None:
    """(True, why) for a first answer in prose (no tool call) to a request whose `tool_choice`
    requires a call ("required", Anthropic's "any", or a named tool): the prose rules would
    grade the text and keep an answer the client said it could not use. None otherwise."""
    tools = offered_tools(request_body, protocol)
    if tools is None or not tools.required:
        return None
    return True, "no tool call, tool_choice requires one"
