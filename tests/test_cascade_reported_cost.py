"""An upstream that reports its cost in the answer (`usage.cost`, OpenRouter's style): the
answer's body is passed through, so after a cascade escalated it said only what the final call
cost, not the first call the request paid for too. The body's `usage.cost` is now the request's
cost: the same as `x-arbiter-cost-usd` and the decision's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from arbiter.config import ModelSettings
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
CHEAP, CHEAP_COST, STRONG_COST = "sim-small", 0.00125, 0.0105
ROUTING = (
    'explore = 0.0\ncascade_tasks = ["extraction"]\ncascade_all = true\n'
    f'cascade_first_model = "{CHEAP}"\ncascade_min_answer_tokens = {{ extraction = 50 }}\n'
)


class Reporting(Scripted):
    """The cheap model calls the tool with arguments its schema refuses (the cascade escalates);
    the other answers with a valid call. Each reports its own cost in `usage.cost`."""

    def __init__(self) -> None:
        super().__init__()
        self.models: list[str] = []

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.models.append(model.name)
        cheap = model.name == CHEAP
        arguments = '{"town": 1}' if cheap else '{"city": "Paris"}'
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": arguments}}  # fmt: skip
        cost = CHEAP_COST if cheap else STRONG_COST
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "cost": cost}
        out = {"id": "chatcmpl-1", "object": "chat.completion", "model": model.name,
               "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                   "role": "assistant", "content": None, "tool_calls": [call]}}],
               "usage": usage}  # fmt: skip
        return ChatResult(
            model.name, out, "", "tool_calls", Usage(100, 20, reported_cost_usd=cost), 1.0,
            orjson.dumps(out),
        )  # fmt: skip


def test_an_escalated_cascade_reports_both_calls_cost_in_the_answer(tmp_path: Path) -> None:
    upstream = Reporting()
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "What is the weather in Paris right now?"}],
        "tools": TOOLS,
    }

    async def go() -> None:
        async with Harness(settings(tmp_path, None, routing=ROUTING), upstream) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            assert r.status_code == 200, r.text
            assert len(upstream.models) == 2 and upstream.models[0] == CHEAP, upstream.models
            reported = r.json()["usage"]["cost"]
            assert reported == CHEAP_COST + STRONG_COST
            assert float(r.headers["x-arbiter-cost-usd"]) == round(reported, 8)
            await h.settled()
            decision_id = r.headers["x-arbiter-decision-id"]
            got = await h.client.get(f"/arbiter/decisions/{decision_id}", headers=HEADERS)
            assert got.status_code == 200, got.text
            assert got.json()["cost_usd"] == reported
            # the rest of the upstream's usage is as it sent it
            usage = r.json()["usage"]
            assert (usage["prompt_tokens"], usage["completion_tokens"]) == (100, 20)

    asyncio.run(go())


def test_a_single_call_keeps_the_upstreams_bytes(tmp_path: Path) -> None:
    """No cascade, no failover: the reported cost is the request's, the body untouched."""
    upstream = Reporting()
    body = {"model": "sim-premium", "messages": [{"role": "user", "content": "Weather?"}],
            "tools": TOOLS}  # fmt: skip

    async def go() -> None:
        async with Harness(settings(tmp_path, None), upstream) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            assert r.status_code == 200, r.text
            assert r.json()["usage"]["cost"] == STRONG_COST
            assert float(r.headers["x-arbiter-cost-usd"]) == STRONG_COST

    asyncio.run(go())


def test_only_a_numeric_usage_cost_is_rewritten() -> None:
    from arbiter.answer_cost import with_request_cost

    def result(body: dict[str, Any]) -> ChatResult:
        return ChatResult("m", body, "", "stop", Usage(), 1.0, orjson.dumps(body))

    for body in ({}, {"usage": None}, {"usage": {"prompt_tokens": 1}}, {"usage": {"cost": True}},
                 {"usage": {"cost": "0.1"}}, {"usage": {"cost": 0.5}}):  # fmt: skip
        kept = result(body)
        assert with_request_cost(kept, 0.5) is kept, body
    changed = with_request_cost(result({"id": "x", "usage": {"cost": 0.1, "total_tokens": 3}}), 0.5)
    assert orjson.loads(changed.raw) == changed.body
    assert changed.body == {"id": "x", "usage": {"cost": 0.5, "total_tokens": 3}}


PROMPT = "What is the weather in Paris right now?"
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": SCHEMA}]
MESSAGES_TOOLS = [{"name": "get_weather", "input_schema": SCHEMA}]
ANTHROPIC = {**HEADERS, "anthropic-version": "2023-06-01"}


def test_the_translated_surfaces_report_the_requests_cost_too(tmp_path: Path) -> None:
    """/v1/responses and /v1/messages translate the OpenAI answer; its `usage.cost` was lost
    there (chat completions showed it). Each now says the request's cost, as chat's does."""
    asks = [
        ("/v1/responses", {"model": "auto", "input": PROMPT, "tools": RESPONSES_TOOLS}, HEADERS),
        ("/v1/messages", {
            "model": "auto", "max_tokens": 200, "tools": MESSAGES_TOOLS,
            "messages": [{"role": "user", "content": PROMPT}],
        }, ANTHROPIC),
    ]  # fmt: skip

    async def go() -> None:
        async with Harness(settings(tmp_path, None, routing=ROUTING), Reporting()) as h:
            for path, body, headers in asks:
                r = await h.client.post(path, json=body, headers=headers)
                assert r.status_code == 200, r.text
                reported = r.json()["usage"]["cost"]
                assert reported == CHEAP_COST + STRONG_COST, path
                assert float(r.headers["x-arbiter-cost-usd"]) == round(reported, 8)

    asyncio.run(go())
