"""An upstream that reports its cost in its usage (`usage.cost`, OpenRouter's style): the
non-streamed /v1/responses and /v1/messages (translated) carried it, as chat completions does;
their streams dropped it in translation (the final usage of `response.completed` and of
`message_delta` had token counts only). Each stream's final usage now says the cost the decision
records, read through the official SDKs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.inproc import InProcess, recorded_decision, run_with_claude
from tests.sdk_clients import sdks

USER = [{"role": "user", "content": "What is the capital of France?"}]


async def _report_cost(sc: InProcess) -> None:
    async with httpx.AsyncClient(base_url=sc.sim.root_url) as sim:
        r = await sim.post("/_sim/control", json={"model": "*", "report_cost": "body"})
        assert r.status_code == 200, r.text


async def _decision_cost(sc: InProcess, decision_id: str) -> float:
    assert await asyncio.to_thread(sc.services.recorder.flush, 10.0)
    cost = (await recorded_decision(sc, decision_id))["cost_usd"]
    assert isinstance(cost, float) and cost > 0, cost
    return cost


def test_a_streamed_response_says_the_reported_cost(tmp_path: Path) -> None:
    """/v1/responses streamed from an OpenAI-protocol (sim-small) and an Anthropic-protocol
    (sim-medium) upstream: `response.completed`'s usage carries the cost."""

    async def body(sc: InProcess) -> None:
        await _report_cost(sc)
        async with sdks(sc) as (_claude, gpt):
            for model in ("sim-small", "sim-medium"):
                async with gpt.responses.with_streaming_response.create(
                    model=model, input="What is the capital of France?", stream=True
                ) as raw:
                    decision_id = raw.headers["x-arbiter-decision-id"]
                    events = [e async for e in await raw.parse()]
                done = [e for e in events if e.type == "response.completed"]
                assert len(done) == 1, [e.type for e in events]
                usage = done[0].response.usage
                assert usage is not None and usage.output_tokens > 0
                cost = (usage.model_extra or {}).get("cost")
                assert cost == await _decision_cost(sc, decision_id), (model, usage)

    run_with_claude(tmp_path, body, edit_config=_no_cache)


def test_a_translated_messages_stream_says_the_reported_cost(tmp_path: Path) -> None:
    """/v1/messages streamed from an OpenAI-protocol upstream (translated): the message_delta's
    usage carries the cost; from an Anthropic one its own bytes did already (checked too)."""

    async def body(sc: InProcess) -> None:
        await _report_cost(sc)
        async with sdks(sc) as (claude, _gpt):
            for model in ("sim-small", "sim-medium"):
                async with claude.messages.with_streaming_response.create(
                    model=model, max_tokens=100, messages=USER, stream=True
                ) as raw:
                    decision_id = raw.headers["x-arbiter-decision-id"]
                    events = [e async for e in await raw.parse()]
                deltas = [e for e in events if e.type == "message_delta"]
                assert len(deltas) == 1, [e.type for e in events]
                usage = deltas[0].usage
                assert usage.output_tokens > 0
                cost = (usage.model_extra or {}).get("cost")
                assert cost == await _decision_cost(sc, decision_id), (model, usage)

    run_with_claude(tmp_path, body, edit_config=_no_cache)


def _no_cache(text: str) -> str:
    return text + "\n[cache]\nenabled = false\n"
