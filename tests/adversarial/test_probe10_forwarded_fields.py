"""Outside probe (tenth session): OpenAI request fields relayed to an OpenAI-protocol model as
they came, without a look at their type.

A request to an OpenAI-protocol model is relayed as the client sent it, so `user: 5`,
`store: "yes"`, `service_tier: 1`, `safety_identifier` over the spec's 64 characters,
`prompt_cache_key: {}` or `parallel_tool_calls: "no"` went to the upstream, which answers 400
("Invalid type for 'user'") after routing, with an attempt spent and an `upstream_rejected`
decision; so did `stream_options` on a request that does not stream, which OpenAI and vLLM
refuse alike ("only allowed when 'stream' is enabled"). Each is now the caller's 400 naming
the parameter, before any upstream call, on /v1/chat/completions and (for the fields it has)
/v1/completions; the values the spec allows still pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

GPT = "sim-small"
HI = [{"role": "user", "content": "Hi"}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
CHAT = {"model": GPT, "messages": HI, "max_tokens": 5}
LEGACY = {"model": GPT, "prompt": "Hi", "max_tokens": 5}

CHAT_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"user": 5}, "user"),
    ({"user": ["a"]}, "user"),
    ({"safety_identifier": 7}, "safety_identifier"),
    ({"safety_identifier": "s" * 65}, "safety_identifier"),
    ({"prompt_cache_key": {}}, "prompt_cache_key"),
    ({"store": "yes"}, "store"),
    ({"service_tier": 1}, "service_tier"),
    ({"tools": TOOLS, "parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"stream": False, "stream_options": {"include_usage": False}}, "stream_options"),
]
LEGACY_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"user": 5}, "user"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
]
CHAT_PASSED: list[dict[str, Any]] = [
    {"user": "u-1", "safety_identifier": "s" * 64, "prompt_cache_key": "k", "store": False},
    {"user": None, "safety_identifier": None, "prompt_cache_key": None, "store": None},
    {"service_tier": "auto"},
    {"service_tier": None},
    {"tools": TOOLS, "parallel_tool_calls": False},
    {"stream_options": None},
    {"stream": True, "stream_options": {"include_usage": True}},
]


def test_forwarded_fields_of_the_wrong_type_are_the_caller_s_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            for path, body, refused in (
                ("/v1/chat/completions", CHAT, CHAT_REFUSED),
                ("/v1/completions", LEGACY, LEGACY_REFUSED),
            ):
                for extra, param in refused:
                    r = await sc.client.post(path, json={**body, **extra}, headers=sc.auth)
                    assert r.status_code == 400, (path, extra, r.text)
                    error = r.json()["error"]
                    assert error["param"] == param, (extra, r.text)
                    assert error["type"] == "invalid_request_error"
            assert await sim_requests(sc) == before  # refused before any upstream call
            for extra in CHAT_PASSED:
                r = await sc.client.post(
                    "/v1/chat/completions", json={**CHAT, **extra}, headers=sc.auth
                )
                assert r.status_code == 200, (extra, r.text)

    asyncio.run(main())


def test_the_sdk_s_own_calls_still_pass(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            done = await gpt.chat.completions.create(
                model=GPT, messages=HI, max_tokens=5, user="u", store=False,  # type: ignore[arg-type]
                service_tier="auto", safety_identifier="s", prompt_cache_key="k",
            )  # fmt: skip
            assert done.choices[0].message.content
            stream = await gpt.chat.completions.create(
                model=GPT, messages=HI, max_tokens=5, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            usage = [chunk.usage async for chunk in stream if chunk.usage]
            assert len(usage) == 1

    asyncio.run(main())
