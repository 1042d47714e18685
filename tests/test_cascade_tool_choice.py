"""The cascade reads a request's `tool_choice`: a cheap first answer that calls a tool the
request forbids ("none"), or answers in prose where it requires a call ("required", Anthropic's
"any", a named tool), escalates. Before, the prose rules graded the text of an answer the client
said it could not use, and a call under "none" graded as valid against its schema. The Responses
API's flat shapes (`{"type": "function", "name": ...}` as a tool and as tool_choice) were not
read at all: the rule saw no tools, so no forced call and no "none"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter.answer_choices import ToolCall
from arbiter.cascade_tool_calls import missing_required_call, tool_call_escalation
from tests.budget_harness import HEADERS, Harness, Scripted, settings

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}]
ANTHROPIC_TOOLS = [{"name": "weather", "input_schema": WEATHER}]
# the Responses API's shapes are flat: no `function` object around the name
RESPONSES_TOOLS = [{"type": "function", "name": "weather", "parameters": WEATHER}]
CALL = (ToolCall("weather", '{"city": "Paris"}'),)


@pytest.mark.parametrize(
    ("protocol", "body"),
    [
        ("openai", {"tools": OPENAI_TOOLS, "tool_choice": "none"}),
        ("anthropic", {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "none"}}),
        ("openai", {"tools": RESPONSES_TOOLS, "tool_choice": "none"}),
    ],
)
def test_a_call_the_request_forbids_escalates(protocol: Any, body: dict[str, Any]) -> None:
    escalate, why = tool_call_escalation(CALL, body, protocol)
    assert escalate and "forbids" in why
    # the same call where the model may choose is kept
    assert not tool_call_escalation(CALL, {**body, "tool_choice": None}, protocol)[0]


@pytest.mark.parametrize(
    ("protocol", "body", "missing"),
    [
        ("openai", {"tools": OPENAI_TOOLS, "tool_choice": "required"}, True),
        (
            "openai",
            {
                "tools": OPENAI_TOOLS,
                "tool_choice": {"type": "function", "function": {"name": "weather"}},
            },
            True,
        ),
        (
            "openai",
            {"tools": RESPONSES_TOOLS, "tool_choice": {"type": "function", "name": "weather"}},
            True,
        ),
        (
            "openai",
            {"tools": OPENAI_TOOLS, "tool_choice": {"type": "function", "name": "weather"}},
            True,
        ),
        ("openai", {"tools": RESPONSES_TOOLS, "tool_choice": "auto"}, False),
        ("openai", {"tools": OPENAI_TOOLS, "tool_choice": "auto"}, False),
        ("openai", {"tools": OPENAI_TOOLS}, False),
        ("anthropic", {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "any"}}, True),
        (
            "anthropic",
            {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "tool", "name": "weather"}},
            True,
        ),
        ("anthropic", {"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "auto"}}, False),
    ],
)
def test_prose_where_a_call_is_required_escalates(
    protocol: Any, body: dict[str, Any], missing: bool
) -> None:
    verdict = missing_required_call(body, protocol)
    assert (verdict is not None) is missing
    if missing:
        assert verdict == (True, "no tool call, tool_choice requires one")


CASCADE = (
    'explore = 0.0\ncascade_tasks = ["chat", "code", "extraction"]\n'
    'cascade_first_model = "sim-small"\n'
)


@pytest.mark.parametrize(("tool_choice", "escalates"), [("required", True), ("auto", False)])
def test_the_sidecars_cascade_escalates_prose_under_a_required_call(
    tmp_path: Path, tool_choice: str, escalates: bool
) -> None:
    """The running pipeline: the scripted cheap model answers "hi" in prose; under "required"
    that answer is escalated (two calls), under "auto" it is kept (one)."""
    body = {
        "model": "auto",
        "max_tokens": 100,
        "tools": OPENAI_TOOLS,
        "tool_choice": tool_choice,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }

    async def go() -> tuple[int, list[str], str]:
        up = Scripted()
        async with Harness(settings(tmp_path, None, routing=CASCADE), up) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            row = h.decision(r.headers["x-arbiter-decision-id"])
            return r.status_code, [b["model"] for b in up.bodies], row["reason"]

    status, calls, reason = asyncio.run(go())
    assert status == 200
    assert "cascade: sim-small" in reason, reason
    if escalates:
        assert len(calls) == 2 and "tool_choice requires one" in reason
    else:
        assert len(calls) == 1 and "answered first and its answer passed" in reason


def test_a_responses_client_naming_a_tool_escalates_prose(tmp_path: Path) -> None:
    """Through /v1/responses with the flat named tool_choice: the prose answer escalates."""
    body = {
        "model": "auto",
        "max_output_tokens": 100,
        "tools": RESPONSES_TOOLS,
        "tool_choice": {"type": "function", "name": "weather"},
        "input": "What is the weather in Paris?",
    }

    async def go() -> tuple[int, int, str]:
        up = Scripted()
        async with Harness(settings(tmp_path, None, routing=CASCADE), up) as h:
            r = await h.client.post("/v1/responses", json=body, headers=HEADERS)
            row = h.decision(r.headers["x-arbiter-decision-id"])
            return r.status_code, len(up.bodies), row["reason"]

    status, calls, reason = asyncio.run(go())
    assert status == 200 and calls == 2 and "tool_choice requires one" in reason, reason
