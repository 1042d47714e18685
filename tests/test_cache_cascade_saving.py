"""A cache hit on an escalated cascade's answer saves what the hit avoided: both calls the
cascade made (the first model's, as the decision cost it, and the escalated one's at today's
price), the whole decision's cost. It saved the escalated call's alone: cache_path.saved_now
repriced the stored answer's usage, which is the last call's."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from arbiter.cache.answer import Entry
from arbiter.cache.entry_rows import from_row, to_row
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart
from arbiter.config import ModelSettings
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings

# every chat request cascades from sim-small and escalates (no answer is 1,000 tokens long)
ESCALATING = (
    'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_all = true\n'
    'cascade_first_model = "sim-small"\ncascade_min_answer_tokens = { chat = 1000 }\n'
)
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Say hello to the team."}]}


class Answering(Scripted):
    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        text = "Hello, team."
        out = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 50}}  # fmt: skip
        return ChatResult(model.name, out, text, "stop", Usage(100, 50), 1.0)


def test_a_hit_on_an_escalated_cascades_answer_saves_both_calls(tmp_path: Path) -> None:
    s = settings(tmp_path, None, extra="[cache]\nenabled = true\n", routing=ESCALATING)

    async def go() -> tuple[Any, Any, dict[str, Any], float]:
        async with Harness(s, Answering()) as h:
            miss = await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            await h.services.cache.drain()
            hit = await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            first = h.decision(miss.headers["x-arbiter-decision-id"])
            escalated = h.services.registry[miss.headers["x-arbiter-model"]].cost_usd(100, 50)
            return miss, hit, first, escalated

    miss, hit, first, escalated = asyncio.run(go())
    assert miss.headers["x-arbiter-cascade"] == "escalated", miss.headers
    assert hit.headers["x-arbiter-cache"] == "hit"
    cheap = first["cost_usd"] - escalated  # the first model's call
    assert cheap > 0
    # before: the escalated call's cost alone
    assert float(hit.headers["x-arbiter-cache-saved-usd"]) == pytest.approx(
        first["cost_usd"], abs=1e-8
    )


def test_an_entrys_earlier_calls_survive_the_store_row() -> None:
    answer = CanonicalResponse("r", "m", (TextPart("hi"),), "end_turn", CanonicalUsage(3, 4))
    entry = Entry("k", "t", "k", None, "m", "chat", answer, 0.5, "d", 1.0, 2.0,
                  earlier_usd=0.25)  # fmt: skip
    assert from_row(to_row(entry)).earlier_usd == 0.25
    plain = dataclasses.replace(entry, earlier_usd=0.0)
    assert from_row(to_row(plain)).earlier_usd == 0.0
    assert from_row(to_row(plain)).answer == answer
