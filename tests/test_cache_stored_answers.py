"""A Chat Completions request with `store: true` has OpenAI keep the completion as an object of
its own (listed, fetched by its id, fed to evals). It was cached and shadowed like any other: the
second identical request was a hit handing back another request's answer (whose id names an
object stored for that request, not this one) and nothing was stored for it, and shadow traffic
stored a second completion under the caller's account. Now such a request bypasses the response
cache and is never copied to a challenger, and its decision says why (`cache_info.bypass`).

The spec's default for chat is `store: false`: a request without it (or with false) is cached as
before (the control). The Responses API's default is true, but Arbiter answers it statelessly
(nothing kept upstream, the answer says `store: false`) and refuses `store: true` with a 400, so
a Responses request without `store` is cached too (server_tools.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.inproc import InProcess, recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

CACHE_ON = "\n[cache]\nenabled = true\n"
SHADOW_ON = '\n[shadow]\nchallengers = ["sim-premium"]\nsample_rate = 1.0\n'


async def _model_calls(sc: InProcess, model: str) -> int:
    for _ in range(3):  # a shadow call's answer is graded, and grading may shadow in turn
        await sc.services.learner.drain()
        await sc.services.shadow.drain()
    async with httpx.AsyncClient() as c:
        r = await c.get(sc.sim.base_url.removesuffix("/v1") + "/_sim/stats")
    return int(r.json()["models"].get(model, {}).get("requests", 0))


def test_a_stored_chat_completion_is_never_served_from_the_cache(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc,
            sdks(sc) as (_, gpt),
        ):
            cases: list[tuple[dict[str, Any], list[str], int]] = [
                ({"store": True}, ["bypass", "bypass"], 2),
                ({"store": False}, ["miss", "hit"], 1),
                ({}, ["miss", "hit"], 1),  # the spec's default: false
            ]
            for i, (extra, expected, calls) in enumerate(cases):
                messages: Any = [{"role": "user", "content": f"Case {i}: name a French city."}]
                before = await _model_calls(sc, "sim-small")
                seen, decisions = [], []
                for _ in range(2):
                    raw = await gpt.chat.completions.with_raw_response.create(
                        model="sim-small", messages=messages, **extra
                    )
                    raw.parse()
                    seen.append(raw.headers["x-arbiter-cache"])
                    decisions.append(raw.headers["x-arbiter-decision-id"])
                    await sc.services.cache.drain()
                assert seen == expected, (extra, seen)
                assert await _model_calls(sc, "sim-small") - before == calls, extra
                first = await recorded_decision(sc, decisions[0])
                if extra.get("store"):  # the decision feed says why it was not cached
                    assert first["cache_info"] == {"bypass": "'store'"}, first
                else:
                    assert first["cache_info"] is None, first

    asyncio.run(main())


def test_a_responses_request_is_cached_and_store_true_refused(tmp_path: Path) -> None:
    """/v1/responses without `store`: stateless here whatever the spec's default (true), so an
    ordinary cached request; `store: true` is a 400 naming `store`, before any cache lookup."""

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + CACHE_ON) as sc,
            sdks(sc) as (_, gpt),
        ):
            seen = []
            for _ in range(2):
                raw = await gpt.responses.with_raw_response.create(
                    model="sim-small", input="Name a German city."
                )
                assert raw.parse().store is False
                seen.append(raw.headers["x-arbiter-cache"])
                await sc.services.cache.drain()
            assert seen == ["miss", "hit"], seen
            with pytest.raises(openai.BadRequestError) as refused:
                await gpt.responses.create(
                    model="sim-small", input="Name a German city.", store=True
                )
            assert refused.value.param == "store"

    asyncio.run(main())


def test_a_stored_chat_completion_is_never_copied_to_a_challenger(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + SHADOW_ON) as sc,
            sdks(sc) as (_, gpt),
        ):
            before = await _model_calls(sc, "sim-premium")
            for i in range(3):
                await gpt.chat.completions.create(
                    model="auto",
                    messages=[{"role": "user", "content": f"Say hello to team {i}."}],
                    store=True,
                )
            assert await _model_calls(sc, "sim-premium") == before, "a stored request shadowed"
            assert sc.services.shadow.skipped.get("stored") == 3, sc.services.shadow.skipped
            # the control: the same traffic without `store` is shadowed (sample_rate 1)
            await gpt.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "Say hello to team 9."}]
            )
            assert await _model_calls(sc, "sim-premium") == before + 1

    asyncio.run(main())
