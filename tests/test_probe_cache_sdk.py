"""Outside probes of the response cache through the official SDKs (in-process sidecar, sim pool):
what a user would hit when the cache answers where it must not, or calls upstream where it
need not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import openai
import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CACHE_ON = "\n[cache]\nenabled = true\n"


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]]) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc:
            await body(sc)

    asyncio.run(main())


async def _enable(sc: InProcess, model: str, on: bool) -> None:
    r = await sc.client.patch(
        f"/arbiter/admin/models/{model}", json={"enabled": on}, headers=sc.admin
    )
    assert r.status_code == 200, r.text


def test_a_disabled_models_cached_answer_is_not_served_by_name(tmp_path: Path) -> None:
    """The operator disables a model: a request naming it is a 404 on a miss, and must be on
    what would have been a hit too (before: the cached answer came back, 200)."""

    async def body(sc: InProcess) -> None:
        messages = [{"role": "user", "content": "Tell me about cats"}]
        async with sdks(sc) as (_, gpt):
            first = await gpt.chat.completions.with_raw_response.create(
                model="sim-small", messages=messages
            )
            assert first.headers["x-arbiter-cache"] == "miss"
            await sc.services.cache.drain()
            await _enable(sc, "sim-small", False)
            with pytest.raises(openai.NotFoundError) as caught:
                await gpt.chat.completions.create(model="sim-small", messages=messages)
            assert caught.value.code == "model_not_found"
            await _enable(sc, "sim-small", True)  # back: its answer is the same model's
            again = await gpt.chat.completions.with_raw_response.create(
                model="sim-small", messages=messages
            )
            assert again.headers["x-arbiter-cache"] == "hit"

    run(tmp_path, body)


def test_auto_is_not_served_a_disabled_models_cached_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        messages = [{"role": "user", "content": "Summarize: the tide rises and falls."}]
        async with sdks(sc) as (_, gpt):
            first = await gpt.chat.completions.with_raw_response.create(
                model="auto", messages=messages
            )
            writer = first.headers["x-arbiter-model"]
            await sc.services.cache.drain()
            await _enable(sc, writer, False)
            second = await gpt.chat.completions.with_raw_response.create(
                model="auto", messages=messages
            )
        assert second.headers["x-arbiter-cache"] == "miss"
        assert second.headers["x-arbiter-model"] != writer
        assert second.parse().model != writer

    run(tmp_path, body)
