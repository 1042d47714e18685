"""Outside probe (sixteenth session): a request that makes the provider act on its own side
(Anthropic's server tools: web search, web fetch, code execution; its MCP connector
`mcp_servers`; a code-execution `container`; OpenAI's `web_search_options`) was cached and
shadowed like any other.

- The cache: the second identical request was a hit, so the searches, fetches and MCP tool calls
  it asks for never ran (a client whose MCP server files the ticket got an answer saying it was
  filed, and no ticket), a web search's answer was served stale for the whole TTL, and the
  stored answer had lost the server-tool blocks and citations the canonical form cannot hold.
  Now such a request bypasses the cache (`x-arbiter-cache: bypass`), every time an upstream call.
- Shadow traffic and latency probes: a request carrying them was copied to another model, which
  ran them again (fetched the URLs again, called the client's MCP server a second time, paid
  search fees no token count meters). Now it is skipped, counted as `server_tools`.

Client-run tools (functions, Anthropic's bash / text editor / computer / memory, the computer and
browser toolsets) are still cached: the client, not the provider, runs those.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CACHE_ON = "\n[cache]\nenabled = true\n"
MCP = [{"type": "url", "url": "https://mcp.example.com/sse", "name": "tickets"}]
SERVER_SIDE: list[tuple[str, dict[str, Any]]] = [
    ("web search", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
    ("web fetch", {"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]}),
    ("code execution", {"tools": [{"type": "code_execution_20250825", "name": "code_execution"}]}),
    ("mcp connector", {"extra_body": {"mcp_servers": MCP}}),
    ("container", {"extra_body": {"container": "container_011CPR5CNjB747bTd36fQLFk"}}),
]
CLIENT_SIDE: list[tuple[str, dict[str, Any]]] = [
    ("function", {"tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
    (
        "text editor",
        {"tools": [{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]},
    ),
    ("bash", {"tools": [{"type": "bash_20250124", "name": "bash"}]}),
    # the client toolsets: the client's driver runs each member's call (surf19: the browser
    # toolset was taken as provider-run; Anthropic's tool reference lists it as a client
    # toolset, its calls run in the application's browser, their state back in `browser_state`)
    ("browser toolset", {"tools": [{"type": "browser_toolset_20260801"}]}),
    ("computer toolset", {"tools": [{"type": "computer_toolset_20260801"}]}),
]


async def _model_calls(sc: InProcess, model: str) -> int:
    for _ in range(3):  # a shadow call's answer is graded, and grading may shadow in turn
        await sc.services.learner.drain()
        await sc.services.shadow.drain()
    async with httpx.AsyncClient() as c:
        r = await c.get(sc.sim.base_url.removesuffix("/v1") + "/_sim/stats")
    return int(r.json()["models"].get(model, {}).get("requests", 0))


def test_a_request_the_provider_acts_on_is_never_served_from_the_cache(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, anthropic_models=("sim-medium",), edit_config=lambda t: t + CACHE_ON
            ) as sc,
            sdks(sc) as (claude, gpt),
        ):
            for i, (what, extra) in enumerate(SERVER_SIDE + CLIENT_SIDE):
                messages: Any = [{"role": "user", "content": f"Probe {i}: the news on {what}?"}]
                before = await _model_calls(sc, "sim-medium")
                seen = []
                for _ in range(2):
                    raw = await claude.messages.with_raw_response.create(
                        model="sim-medium", max_tokens=64, messages=messages, **extra
                    )
                    await raw.parse()
                    seen.append(raw.headers["x-arbiter-cache"])
                    await sc.services.cache.drain()
                calls = await _model_calls(sc, "sim-medium") - before
                if (what, extra) in SERVER_SIDE:
                    assert seen == ["bypass", "bypass"] and calls == 2, (what, seen, calls)
                else:  # the client runs these: the answer is the model's alone, cached
                    assert seen == ["miss", "hit"] and calls == 1, (what, seen, calls)
            # OpenAI's web search in chat completions: its mere presence turns search on
            messages = [{"role": "user", "content": "Probe: what happened in Lyon today?"}]
            seen = []
            for options in ({}, {}, None, None):
                kw: dict[str, Any] = {} if options is None else {"web_search_options": options}
                raw_oa = await gpt.chat.completions.with_raw_response.create(
                    model="sim-small", messages=messages, **kw
                )
                raw_oa.parse()
                seen.append(raw_oa.headers["x-arbiter-cache"])
                await sc.services.cache.drain()
            assert seen == ["bypass", "bypass", "miss", "hit"], seen

    asyncio.run(main())


SHADOW_ON = '\n[shadow]\nchallengers = ["sim-premium"]\nsample_rate = 1.0\n'


def test_a_request_the_provider_acts_on_is_never_copied_to_a_challenger(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path,
                anthropic_models=("sim-medium", "sim-premium"),
                edit_config=lambda t: t + SHADOW_ON,
            ) as sc,
            sdks(sc) as (claude, _),
        ):
            for i, (what, extra) in enumerate(SERVER_SIDE):
                before = await _model_calls(sc, "sim-premium")
                answer = await claude.messages.with_raw_response.create(
                    model="auto",
                    max_tokens=64,
                    messages=[{"role": "user", "content": f"Shadow probe {i}: {what} news?"}],
                    **extra,
                )
                assert answer.headers["x-arbiter-model"] == "sim-medium", what
                assert await _model_calls(sc, "sim-premium") == before, f"{what} was shadowed"
            assert sc.services.shadow.skipped.get("server_tools") == len(SERVER_SIDE)
            # the control: the same traffic without them is shadowed (sample_rate 1)
            before = await _model_calls(sc, "sim-premium")
            await claude.messages.create(
                model="auto",
                max_tokens=64,
                messages=[{"role": "user", "content": "Shadow probe: plain news?"}],
            )
            assert await _model_calls(sc, "sim-premium") == before + 1

    asyncio.run(main())


SLOW_PRIORS = (
    "\n[latency]\nprior_ttft_ms = 2000\nprior_tokens_per_s = 20\n"
    "\n[latency.max_latency_ms]\nchat = 4000\nsummarization = 4000\n"
)


def test_a_request_the_provider_acts_on_is_never_a_latency_probe(tmp_path: Path) -> None:
    """A latency probe (an untried model set aside only by its slow prior gets one background
    call, tests/test_latency_slo.py) copies the request too: one with web search on searched
    again. The same traffic without it is probed (the control)."""

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + SLOW_PRIORS) as sc,
            sdks(sc) as (_, gpt),
        ):
            for i in range(8):
                await gpt.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": f"Say hello to team {i}."}],
                    web_search_options={},
                )
            await sc.services.shadow.drain()
            assert sc.services.shadow.probes == 0
            assert sc.services.shadow.skipped.get("server_tools", 0) >= 1
            for i in range(8):
                await gpt.chat.completions.create(
                    model="auto", messages=[{"role": "user", "content": f"Say hi to crew {i}."}]
                )
            await sc.services.shadow.drain()
            assert sc.services.shadow.probes >= 1, "the control: plain traffic is probed"

    asyncio.run(main())
