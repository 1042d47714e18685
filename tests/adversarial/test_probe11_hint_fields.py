"""Outside probe (eleventh session): fields that are only hints to the caller's own provider
made every model of the other protocol ineligible (`auto` routed among fewer models; a named
one was a 400 "cannot carry"), though the answer does not depend on them:
- Anthropic's top-level `cache_control` (automatic prompt caching, the anthropic SDK's
  `messages.create(cache_control=...)`), while the same marker on a block was already dropped;
- OpenAI's `prompt_cache_retention` on chat completions (the Responses surface dropped it,
  like `prompt_cache_key`);
- `reasoning_effort: "none"` (OpenAI's "do not reason"): what an Anthropic model asked
  without `thinking` does anyway.
They are now dropped on the way to the other protocol; an effort that asks for thinking is
still refused there."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"  # served over Anthropic's API here
ASK: Any = [{"role": "user", "content": "Say hello to the team."}]


async def _why_not(sc: InProcess, decision: str) -> dict[str, str]:
    feed = (await sc.client.get("/arbiter/decisions?limit=20", headers=sc.admin)).json()
    row = next(d for d in feed["data"] if d["id"] == decision)
    return {c["model"]: c.get("why_not") or "" for c in row["candidates"]}


def test_anthropic_cache_control_does_not_rule_out_openai_models(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc,
            sdks(sc) as (claude, _),
        ):
            hint: Any = {"type": "ephemeral"}
            named = await claude.messages.with_raw_response.create(
                model="sim-small", max_tokens=50, messages=ASK, cache_control=hint
            )
            assert named.headers["x-arbiter-model"] == "sim-small"
            assert (await named.parse()).content[0].type == "text"
            routed = await claude.messages.with_raw_response.create(
                model="auto", max_tokens=50, messages=ASK, cache_control=hint
            )
            why = await _why_not(sc, routed.headers["x-arbiter-decision-id"])
            assert not any("cache_control" in w for w in why.values()), why

    asyncio.run(main())


@pytest.mark.parametrize(
    "extra",
    [{"prompt_cache_retention": "24h"}, {"reasoning_effort": "none"}],
    ids=["prompt_cache_retention", "reasoning_effort none"],
)
def test_openai_hints_reach_an_anthropic_model(tmp_path: Path, extra: dict[str, str]) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc,
            sdks(sc) as (_, gpt),
        ):
            chat = await gpt.chat.completions.with_raw_response.create(
                model=CLAUDE, messages=ASK, **extra
            )
            assert chat.headers["x-arbiter-model"] == CLAUDE
            assert chat.parse().choices[0].message.content
            routed = await gpt.chat.completions.with_raw_response.create(
                model="auto", messages=ASK, **extra
            )
            why = await _why_not(sc, routed.headers["x-arbiter-decision-id"])
            assert not why.get(CLAUDE), why
            if "reasoning_effort" in extra:  # the Responses API's `reasoning.effort` alike
                answer = await gpt.responses.create(
                    model=CLAUDE, input="hi", reasoning={"effort": "none"}
                )
                assert answer.output_text

    asyncio.run(main())


def test_an_effort_that_asks_for_thinking_is_still_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc,
            sdks(sc) as (_, gpt),
        ):
            with pytest.raises(openai.BadRequestError, match="reasoning_effort"):
                await gpt.chat.completions.create(
                    model=CLAUDE, messages=ASK, reasoning_effort="low"
                )

    asyncio.run(main())
