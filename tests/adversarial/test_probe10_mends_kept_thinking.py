"""Anthropic's thinking block preservation is per model (its extended-thinking guide, "Thinking
block preservation by model": Claude Opus 4.5 and later Opus models and Sonnet 4.6 and later keep
all earlier turns' thinking in context, counted as input; earlier models and Haiku strip it).
Arbiter stripped it for every model. A model with the `keeps-thinking` capability now counts it:
its context check (named and `auto`), count_tokens when named, and its budget worst case; a
model without the capability keeps today's stripping rule."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from arbiter import worst_case
from arbiter.config import ModelSettings
from arbiter.surfaces.anthropic_messages import parse_messages_request
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

ANTHROPIC = ("sim-small", "sim-premium")
LONG = "Weigh every option with care before answering. " * 4_000  # ~40,000 tokens
THINKING = {"type": "thinking", "thinking": LONG, "signature": "c2lnbmF0dXJl"}
MESSAGES: Any = [
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": [THINKING, {"type": "text", "text": "4"}]},
    {"role": "user", "content": "And 3 + 3?"},
]


def keeps(model: str) -> Any:
    """`model` gets the keeps-thinking capability."""

    def edit(text: str) -> str:
        at = text.index(f"[models.{model}]\n")
        caps = 'capabilities = ["chat", "json", "json-schema", "tools"'
        return text[:at] + text[at:].replace(caps, caps + ', "keeps-thinking"', 1)

    return edit


def test_a_model_that_keeps_thinking_counts_earlier_turns_thinking(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, edit_config=keeps("sim-small"), anthropic_models=ANTHROPIC
            ) as sc,
            sdks(sc) as (claude, _),
        ):
            with pytest.raises(anthropic.BadRequestError) as info:
                await claude.messages.create(model="sim-small", max_tokens=64, messages=MESSAGES)
            assert "maximum context length is 32000 tokens" in str(info.value)
            # a model without the capability: Anthropic strips it, as before
            r = await claude.messages.create(model="sim-premium", max_tokens=64, messages=MESSAGES)
            assert r.model == "sim-premium"

            async def count(model: str) -> int:
                return (
                    await claude.messages.count_tokens(model=model, messages=MESSAGES)
                ).input_tokens

            assert await count("sim-small") > await count("sim-premium") + 30_000
            assert await count("auto") == await count("sim-premium")

    asyncio.run(main())


def test_auto_routes_around_a_model_whose_kept_thinking_overflows_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, edit_config=keeps("sim-premium"), anthropic_models=ANTHROPIC
            ) as sc,
            sdks(sc) as (claude, _),
        ):
            r = await claude.messages.create(model="auto", max_tokens=64, messages=MESSAGES)
            assert r.model != "sim-premium"

    asyncio.run(main())


def test_the_budget_reserves_kept_thinking_only_for_a_model_that_keeps_it() -> None:
    body = {"model": "auto", "max_tokens": 64, "messages": MESSAGES}
    req = parse_messages_request(orjson.dumps(body))
    assert req.kept_thinking_tokens > 30_000
    models = {
        name: ModelSettings(name, "sim", 1.0, 0.0, capabilities=caps)
        for name, caps in (("keeps", ["chat", "keeps-thinking"]), ("strips", ["chat"]))
    }
    assert req.budget_body is not None
    worst = worst_case.CallWorst(
        models.__getitem__, req.budget_body, 64, 2000, None,
        req.unviewed_tokens, req.kept_thinking_tokens,
    )  # fmt: skip
    assert worst("keeps") - worst("strips") == pytest.approx(req.kept_thinking_tokens / 1e6)
