"""Identical follow-up turns of two agents share a cache entry though their tool-call ids differ.

Every cache hit answers with tool-call ids of its own (a live call never repeats one), so two
agents asking the same question hold the same calls under different ids, and their identical
follow-ups (the calls and their results sent back) were keyed apart: the second agent's missed.
The keys now hold which result answers which call, not the ids' spelling: the second agent's
follow-up hits, on the exact cache and on the semantic one (another wording of the last
question), through both SDKs; a follow-up whose results answer the calls the other way round
still misses (a hit never pairs a result with the wrong call)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CACHE_ON = "\n[cache]\nenabled = true\n"
SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}
OPENAI_TOOLS: Any = [{"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}}]
CLAUDE_TOOLS: Any = [{"name": "lookup", "description": "an order", "input_schema": SCHEMA}]
ASK = "Where are orders 7 and 8?"
RESULTS = ("order 7 shipped on Monday", "order 8 is still packed")


def _chat(ids: tuple[str, str], results: tuple[str, str]) -> list[dict[str, Any]]:
    calls = [
        {"id": ids[k], "type": "function",
         "function": {"name": "lookup", "arguments": f'{{"order": "{o}"}}'}}
        for k, o in enumerate(("7", "8"))
    ]  # fmt: skip
    return [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": ids[0], "content": results[0]},
        {"role": "tool", "tool_call_id": ids[1], "content": results[1]},
    ]


def _claude(ids: tuple[str, str], results: tuple[str, str], last: str) -> list[dict[str, Any]]:
    calls = [{"type": "tool_use", "id": ids[k], "name": "lookup", "input": {"order": o}}
             for k, o in enumerate(("7", "8"))]  # fmt: skip
    answers = [{"type": "tool_result", "tool_use_id": ids[k], "content": results[k]}
               for k in range(2)]  # fmt: skip
    return [
        {"role": "user", "content": ASK},
        {"role": "assistant", "content": calls},
        {"role": "user", "content": [*answers, {"type": "text", "text": last}]},
    ]


def _claude_asker(sc: InProcess, claude: Any, max_tokens: int) -> Any:
    """An Anthropic request with the tools; its cache header once its write has landed."""

    async def ask(messages: list[dict[str, Any]]) -> str:
        raw = await claude.messages.with_raw_response.create(
            model="sim-medium", max_tokens=max_tokens, messages=messages, tools=CLAUDE_TOOLS
        )
        assert (await raw.parse()).content, raw
        await sc.services.cache.drain()
        return str(raw.headers["x-arbiter-cache"])

    return ask


def _run(tmp_path: Path, body: Any, semantic: bool = False) -> None:
    # the bound an operator may set (the cache19 e2e's): a paraphrase is served
    extra = "semantic = true\nmax_false_hit_rate = 0.5\n" if semantic else ""

    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: t + CACHE_ON + extra, anthropic_models=("sim-medium",)
        ) as sc:
            await body(sc)

    asyncio.run(main())


def test_an_openai_agents_follow_up_hits_under_other_call_ids(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):

            async def ask(messages: list[dict[str, Any]]) -> str:
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=messages, tools=OPENAI_TOOLS,  # type: ignore[arg-type]
                )  # fmt: skip
                assert raw.parse().choices, raw
                await sc.services.cache.drain()
                return raw.headers["x-arbiter-cache"]

            assert await ask(_chat(("call_A1", "call_A2"), RESULTS)) == "miss"
            assert await ask(_chat(("call_B1", "call_B2"), RESULTS)) == "hit"
            # the same calls and results, each result answering the other call: a miss
            swapped = _chat(("call_C1", "call_C2"), RESULTS)
            swapped[2]["tool_call_id"], swapped[3]["tool_call_id"] = "call_C2", "call_C1"
            assert await ask(swapped) == "miss"
            # ids reused per turn (some servers number calls call_0, call_1 in every answer)
            assert await ask(_chat(("call_0", "call_1"), RESULTS)) == "hit"

    _run(tmp_path, body)


def test_an_anthropic_agents_follow_up_hits_under_other_tool_use_ids(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            ask = _claude_asker(sc, claude, max_tokens=200)

            last = "Summarise both."
            assert await ask(_claude(("toolu_A1", "toolu_A2"), RESULTS, last)) == "miss"
            assert await ask(_claude(("toolu_B1", "toolu_B2"), RESULTS, last)) == "hit"
            # the same calls and results, each result answering the other call: a miss
            swapped = _claude(("toolu_C1", "toolu_C2"), RESULTS, last)
            swapped[2]["content"][0]["tool_use_id"] = "toolu_C2"
            swapped[2]["content"][1]["tool_use_id"] = "toolu_C1"
            assert await ask(swapped) == "miss"

    _run(tmp_path, body)


def test_a_paraphrased_follow_up_under_other_ids_is_a_semantic_hit(tmp_path: Path) -> None:
    """The semantic side keys the conversation before the last question the same way."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            ask = _claude_asker(sc, claude, max_tokens=300)

            stored = _claude(("toolu_A1", "toolu_A2"), RESULTS, "Write a haiku about the sea")
            assert await ask(stored) == "miss"
            other = _claude(("toolu_B1", "toolu_B2"), RESULTS, "Write a haiku about the ocean")
            assert await ask(other) == "semantic-hit"
            swapped = _claude(("toolu_C1", "toolu_C2"), RESULTS, "Write a haiku about the ocean")
            swapped[2]["content"][0]["tool_use_id"] = "toolu_C2"
            swapped[2]["content"][1]["tool_use_id"] = "toolu_C1"
            assert await ask(swapped) == "miss"

    _run(tmp_path, body, semantic=True)
