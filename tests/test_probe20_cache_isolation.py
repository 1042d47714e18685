"""probe20 (outside tester, official SDKs, sim pool): which requests the exact cache treats as
"the same question". One answer is stored; each variant below changes one thing that shapes the
answer and must be a miss (its own upstream call, its own spend), never the stored answer; the
variants that change only delivery must be hits (cost 0, recorded as hits). All cells held when
probed; this records them in one sidecar (one start, ~30 requests)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx

from arbiter.auth import create_key
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CACHE_ON = "\n[cache]\nenabled = true\n"


def _config(text: str) -> str:
    """The cache on, every pool model able to read images."""
    return text.replace('"tools"]', '"tools", "vision"]') + CACHE_ON


USER = "List two facts about the moon."
BASE: dict[str, Any] = {"model": "sim-small", "messages": [{"role": "user", "content": USER}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "facts", "schema": {"type": "object"}}}


def _image(byte: int) -> str:
    png = b"\x89PNG\r\n\x1a\n" + bytes([byte]) * 24  # the signature, then other bytes
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _with_image(byte: int) -> dict[str, Any]:
    content = [{"type": "text", "text": USER},
               {"type": "image_url", "image_url": {"url": _image(byte)}}]  # fmt: skip
    return {**BASE, "messages": [{"role": "user", "content": content}]}


# each changes one thing that shapes the answer: a miss, never the base's answer
MISSES: dict[str, dict[str, Any]] = {
    "system prompt": {
        **BASE,
        "messages": [{"role": "system", "content": "Be terse."}, *BASE["messages"]],
    },
    "tools": {**BASE, "tools": [TOOL]},
    "tool_choice": {**BASE, "tools": [TOOL], "tool_choice": "none"},
    "response_format": {**BASE, "response_format": SCHEMA},
    "seed": {**BASE, "seed": 7},
    "stop": {**BASE, "stop": ["."]},
    "a longer max_tokens": {**BASE, "max_tokens": 400},
    "temperature": {**BASE, "temperature": 1.3},
    "auto, not the model named": {**BASE, "model": "auto"},
    "another image": _with_image(2),
}


async def _chat(sc: InProcess, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or sc.api_key}"}
    r = await sc.client.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    await sc.services.cache.drain()
    return r


def test_what_the_exact_cache_counts_as_the_same_question(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_config) as sc:
            other = create_key(sc.services.store, "tenant-b").key
            for base in (BASE, {**BASE, "max_tokens": 40}, _with_image(1)):
                r = await _chat(sc, base)
                assert r.headers["x-arbiter-cache"] == "miss"
            first = await _chat(sc, {**BASE, "max_tokens": 40})
            assert first.headers["x-arbiter-cache"] == "hit"
            # tenant B, the same request: its own call
            b = await _chat(sc, BASE, other)
            assert b.headers["x-arbiter-cache"] == "miss", "tenant A's answer served to B"
            assert float(b.headers["x-arbiter-cost-usd"]) > 0
            wrong = []
            for name, body in MISSES.items():
                r = await _chat(sc, body)
                if (
                    r.headers["x-arbiter-cache"] != "miss"
                    or float(r.headers["x-arbiter-cost-usd"]) <= 0
                ):
                    wrong.append(name)
            assert not wrong, f"served another request's answer: {wrong}"
            # delivery only (stream, stream_options, user, metadata): the stored answer
            hits = {
                "user": {**BASE, "user": "someone"},
                "metadata": {**BASE, "metadata": {"run": "2"}},
                "the same image": _with_image(1),
            }
            for name, body in hits.items():
                r = await _chat(sc, body)
                assert r.headers["x-arbiter-cache"] == "hit", name
                assert r.headers["x-arbiter-cost-usd"] == "0.00000000"
                assert r.json()["usage"]["cost"] == 0.0
            # the Anthropic surface, the same text and model: another protocol's entry
            async with sdks(sc) as (claude, _):
                msg = await claude.messages.with_raw_response.create(
                    model="sim-small", max_tokens=40,
                    messages=[{"role": "user", "content": USER}],
                )  # fmt: skip
            assert msg.headers["x-arbiter-cache"] == "miss"
            # a streamed request of the base: a hit replayed as SSE
            async with sdks(sc) as (_, gpt):
                stream = await gpt.chat.completions.with_raw_response.create(
                    **BASE, stream=True, stream_options={"include_usage": True}
                )
                assert stream.headers["x-arbiter-cache"] == "hit"
                chunks = [c async for c in stream.parse()]
            assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            base_text = (await _chat(sc, BASE)).json()["choices"][0]["message"]["content"]
            assert text == base_text
            # the feed: one hit per hit above, cost 0, recorded against tenant A only
            feed = await sc.client.get(
                "/arbiter/decisions", headers=sc.admin, params={"limit": 100}
            )
            rows = feed.json()["data"]
            cache_rows = [d for d in rows if d["mode"] == "cache"]
            assert len(cache_rows) == 1 + len(hits) + 2
            assert all(d["tenant"] == "default" and d["cost_usd"] == 0 for d in cache_rows)
            metrics = (await sc.client.get("/metrics", headers=sc.admin)).text
            assert f'arbiter_cache_requests_total{{result="hit"}} {len(cache_rows)}' in metrics

    asyncio.run(main())
