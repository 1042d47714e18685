"""Outside probe (twelfth session): a cascaded request that offers tools, whose first (cheap)
answer is a tool call. The cascade's checks read prose: the expected-gain rule (the shipped
examples/routing/chat.toml cascades every text task with it) escalated any answer without text
as "no complete answer", and `cascade_min_answer_tokens` as "a short answer (0 < N tokens)". So
every tool call of the first model was thrown away and the request paid a second call: an
agent's turns, nearly all tool calls, cost both models each. A first answer that calls tools is
now judged by its calls (grading_tools: an offered tool, the one tool_choice forces, arguments
that validate against its schema): a valid call is kept, an invalid one still escalates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.config import ModelSettings
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
RULES = {
    "expected-gain": "cascade_expected_gain = { extraction = [5.0, 0.0] }\n"
    "cascade_min_expected_gain = 0.5\n",
    "min-answer-tokens": "cascade_min_answer_tokens = { extraction = 50 }\n",
}


class Calls(Scripted):
    """Every model answers with one call of get_weather carrying `arguments`."""

    def __init__(self, arguments: str) -> None:
        super().__init__()
        self.arguments = arguments
        self.models: list[str] = []

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.models.append(model.name)
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": self.arguments}}  # fmt: skip
        out = {"id": "chatcmpl-1", "object": "chat.completion", "model": model.name,
               "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                   "role": "assistant", "content": None, "tool_calls": [call]}}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 20}}  # fmt: skip
        return ChatResult(model.name, out, "", "tool_calls", Usage(100, 20), 1.0, orjson.dumps(out))


def _models_called(tmp_path: Path, rule: str, arguments: str) -> list[str]:
    routing = (
        'explore = 0.0\ncascade_tasks = ["extraction"]\ncascade_all = true\n'
        f'cascade_first_model = "sim-small"\n{RULES[rule]}'
    )
    upstream = Calls(arguments)
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is the weather in Paris right now?"}],
        "tools": TOOLS,
    }

    async def go() -> None:
        async with Harness(settings(tmp_path, None, routing=routing), upstream) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-task"] == "extraction", r.headers
            message = r.json()["choices"][0]["message"]
            assert message["tool_calls"][0]["function"]["name"] == "get_weather", message
            await h.settled()

    asyncio.run(go())
    return upstream.models


@pytest.mark.parametrize("rule", list(RULES))
def test_a_valid_first_tool_call_is_kept_one_call_billed(tmp_path: Path, rule: str) -> None:
    assert _models_called(tmp_path, rule, '{"city": "Paris"}') == ["sim-small"]


@pytest.mark.parametrize("rule", list(RULES))
def test_an_invalid_first_tool_call_still_escalates(tmp_path: Path, rule: str) -> None:
    for arguments in ('{"town": "Paris"}', '{"city": "Par'):  # schema refuses it; not JSON
        called = _models_called(tmp_path / arguments[3:7], rule, arguments)
        assert len(called) == 2 and called[0] == "sim-small", (arguments, called)
