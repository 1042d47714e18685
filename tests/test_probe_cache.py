"""Outside probes of the response cache on the surfaces it was not built with: the Responses API
(POST /v1/responses) served from an entry, streamed and not, through the official `openai` SDK,
and its request cache controls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks
from tests.test_surface_responses import check_response, stream_events

CACHE_ON = "\n[cache]\nenabled = true\n"
QUESTION = "What is the capital of France?"


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]]) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            await body(sc)

    asyncio.run(main())


def test_responses_hit_is_a_response_object_with_the_cached_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            first = await gpt.responses.with_raw_response.create(
                model="auto", input=QUESTION, instructions="Be brief.", temperature=0.5
            )
            await sc.services.cache.drain()
            second = await gpt.responses.with_raw_response.create(
                model="auto", input=QUESTION, instructions="Be brief.", temperature=0.5
            )
        assert first.headers["x-arbiter-cache"] == "miss"
        assert second.headers["x-arbiter-cache"] == "hit"
        a, b = first.parse(), second.parse()
        assert b.status == "completed" and b.output_text == a.output_text != ""
        assert b.instructions == "Be brief." and b.temperature == 0.5
        assert b.id == "resp_" + second.headers["x-arbiter-decision-id"] != a.id
        assert b.usage is not None and b.usage.output_tokens > 0
        check_response(orjson.loads(second.content))

    run(tmp_path, body)


def test_responses_streamed_hit_is_a_responses_event_stream(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        payload: dict[str, Any] = {"model": "auto", "input": QUESTION}
        r = await sc.client.post("/v1/responses", json=payload, headers=sc.auth)
        assert r.status_code == 200 and r.headers["x-arbiter-cache"] == "miss", r.text
        text = r.json()["output"][0]["content"][0]["text"]
        await sc.services.cache.drain()
        r = await sc.client.post("/v1/responses", json={**payload, "stream": True}, headers=sc.auth)
        assert r.status_code == 200 and r.headers["x-arbiter-cache"] == "hit", r.text
        events = stream_events(r.content)  # each valid, numbered from 0 without a gap
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        done = events[-1]["response"]
        check_response(done)
        assert done["id"] == "resp_" + r.headers["x-arbiter-decision-id"]
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert "".join(deltas) == text
        # and through the SDK's own stream reader
        async with sdks(sc) as (_, gpt):
            stream = await gpt.responses.create(model="auto", input=QUESTION, stream=True)
            kinds = [e.type async for e in stream]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"

    run(tmp_path, body)


def test_responses_honour_no_store_and_no_cache(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        payload = {"model": "auto", "input": QUESTION}

        async def ask(**headers: str) -> str:
            r = await sc.client.post("/v1/responses", json=payload, headers={**sc.auth, **headers})
            assert r.status_code == 200, r.text
            await sc.services.cache.drain()
            return r.headers["x-arbiter-cache"]

        assert await ask(**{"cache-control": "no-store"}) == "bypass"
        assert await ask() == "miss"  # the no-store answer was not kept
        assert await ask(**{"x-arbiter-cache-control": "no-cache"}) == "bypass"
        assert await ask() == "hit"

    run(tmp_path, body)
