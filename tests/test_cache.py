"""The response cache through the real sidecar in process, with the official SDKs as clients:
hit/miss/bypass, streaming replay in both protocols, request controls, TTL, the size bound,
tenant isolation, errors never cached, requests the cache must not answer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter.auth import create_key
from arbiter.cache import front
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import anthropic_events, check_completion, check_message, openai_chunks, sdks
from tests.waiting import until_async

CACHE_ON = "\n[cache]\nenabled = true\n"
USER = [{"role": "user", "content": "What is the capital of France?"}]
CHAT = {"model": "auto", "messages": USER}


def cache_config(extra: str = "") -> Any:
    return lambda text: text + CACHE_ON + extra


async def chat(sc: InProcess, body: dict[str, Any], **headers: str) -> httpx.Response:
    r = await sc.client.post("/v1/chat/completions", json=body, headers={**sc.auth, **headers})
    assert r.status_code == 200, r.text
    await sc.services.cache.drain()
    return r


async def decision(sc: InProcess, decision_id: str) -> dict[str, Any]:
    r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def run(tmp_path: Path, body: Any, **options: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, **options) as sc:
            await body(sc)

    asyncio.run(main())


def test_exact_hit_is_served_free_and_recorded_with_its_saving(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            first = await gpt.chat.completions.with_raw_response.create(model="auto", messages=USER)
            await sc.services.cache.drain()
            second = await gpt.chat.completions.with_raw_response.create(
                model="auto", messages=USER
            )
        assert first.headers["x-arbiter-cache"] == "miss"
        assert second.headers["x-arbiter-cache"] == "hit"
        source = first.headers["x-arbiter-decision-id"]
        assert second.headers["x-arbiter-cache-source-decision-id"] == source
        assert second.headers["x-arbiter-cost-usd"] == "0.00000000"
        a, b = first.parse(), second.parse()
        assert a.choices[0].message.content == b.choices[0].message.content
        assert b.id != a.id and b.usage is not None and b.usage.completion_tokens > 0
        hit = await decision(sc, second.headers["x-arbiter-decision-id"])
        miss = await decision(sc, source)
        assert hit["mode"] == "cache" and hit["cost_usd"] == 0 and hit["attempts"] == []
        assert hit["cache_kind"] == "exact" and hit["cache_saved_usd"] == miss["cost_usd"] > 0
        assert hit["cache_info"]["source_decision_id"] == source
        stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
        assert stats["cache"]["hits"] == 1 and stats["cache"]["saved_usd"] == miss["cost_usd"]
        # hits are recorded against a baseline of 0: routing's savings are the miss's alone
        assert hit["baseline_cost_usd"] == 0 and stats["savings"]["routing_usd"] == pytest.approx(
            stats["savings_usd"]
        )
        assert stats["savings"]["cache_usd"] == pytest.approx(miss["cost_usd"])
        metrics = (await sc.client.get("/metrics", headers=sc.admin)).text
        assert 'arbiter_cache_requests_total{result="hit"} 1' in metrics
        assert 'arbiter_cache_requests_total{result="miss"} 1' in metrics

    run(tmp_path, body, edit_config=cache_config())


def test_a_hit_reserves_no_budget(tmp_path: Path) -> None:
    caps = '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = 100.0\n'

    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        await asyncio.to_thread(sc.services.recorder.flush, 2.0)

        async def budgets() -> Any:
            return (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()["data"]

        async def settled() -> bool:  # the miss's settle runs off the response path
            data = await budgets()
            return bool(data) and all(b["reserved_usd"] <= 1e-12 < b["spent_usd"] for b in data)

        await until_async(settled, "the miss's cost settled (spent, nothing reserved)")
        before = await budgets()
        r = await chat(sc, CHAT)
        assert r.headers["x-arbiter-cache"] == "hit"
        await asyncio.sleep(0.1)  # time for a (wrong) reservation or settle to show
        after = await budgets()
        assert before == after and before

    run(tmp_path, body, edit_config=lambda t: t + caps + CACHE_ON)


def test_streams_replay_in_each_protocol_parsed_by_the_sdks(tmp_path: Path) -> None:
    """An answer stored from a non-streaming OpenAI request is replayed as an OpenAI stream (with
    the usage chunk when asked) and an Anthropic one stored from a stream is replayed as an
    Anthropic stream and as a whole Message."""

    async def body(sc: InProcess) -> None:
        first = await chat(sc, CHAT)
        text = first.json()["choices"][0]["message"]["content"]
        r = await chat(sc, {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
        assert r.headers["x-arbiter-cache"] == "hit"
        chunks, done = openai_chunks(r.content)
        assert (
            done
            and "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
            )
            == text
        )
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
        async with sdks(sc) as (claude, gpt):
            stream = await gpt.chat.completions.create(model="auto", messages=USER, stream=True)
            got = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert got == text
            ask = {"model": "auto", "max_tokens": 300, "messages": USER}
            async with claude.messages.stream(**ask) as live:  # type: ignore[arg-type]
                streamed = await live.get_final_message()
            await sc.services.cache.drain()
            raw = await claude.messages.with_raw_response.create(**ask)  # type: ignore[arg-type]
            assert raw.headers["x-arbiter-cache"] == "hit"
            whole = await raw.parse()
            assert whole.content[0].text == streamed.content[0].text  # type: ignore[union-attr]
            async with claude.messages.stream(**ask) as replayed:  # type: ignore[arg-type]
                again = await replayed.get_final_message()
            assert again.content[0].text == streamed.content[0].text  # type: ignore[union-attr]
            assert again.stop_reason == streamed.stop_reason == "end_turn"
        r = await sc.client.post("/v1/messages", json={**ask, "stream": True}, headers=sc.anthropic)
        kinds = [e["type"] for e in anthropic_events(r.content)]
        assert r.headers["x-arbiter-cache"] == "hit"
        assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
        check_message(
            (await sc.client.post("/v1/messages", json=ask, headers=sc.anthropic)).content
        )

    run(tmp_path, body, edit_config=cache_config())


def test_no_cache_reads_nothing_but_stores_and_no_store_does_neither(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        fresh = await chat(sc, CHAT, **{"cache-control": "no-cache"})
        assert fresh.headers["x-arbiter-cache"] == "bypass"
        assert (await decision(sc, fresh.headers["x-arbiter-decision-id"]))["mode"] == "routed"
        hit = await chat(sc, CHAT)  # the no-cache answer replaced the entry
        assert (
            hit.headers["x-arbiter-cache-source-decision-id"]
            == fresh.headers["x-arbiter-decision-id"]
        )
        other = {**CHAT, "messages": [{"role": "user", "content": "Name a prime number."}]}
        for header in ("cache-control", "x-arbiter-cache-control"):
            r = await chat(sc, other, **{header: "no-store"})
            assert r.headers["x-arbiter-cache"] == "bypass"
        assert (await chat(sc, other)).headers["x-arbiter-cache"] == "miss"
        again = await chat(sc, CHAT, **{"x-arbiter-cache-control": "No-Store, max-age=0"})
        assert again.headers["x-arbiter-cache"] == "bypass"

    run(tmp_path, body, edit_config=cache_config())


def test_entries_expire_after_their_ttl(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "hit"
        sc.services.cache.clock = lambda: time.time() + 61  # past ttl_s = 60
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "miss"

    run(tmp_path, body, edit_config=cache_config("ttl_s = 60\n"))


def test_the_size_bound_evicts_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two things a loaded host changed, neither the LRU: the sim cuts one bad draw in four short
    # ("length"; which call draws it moves with the order the judge's calls reach the sim), and
    # an answer cut by no limit of the request's own is never kept (`cut`): each prompt asks for
    # a limit. And a store read-through slower than its 0.25 s budget marks the store down for
    # a second, so the entries written then stay in memory only and the listing came up short:
    # the budget is the product's, the host's thread start is not.
    monkeypatch.setattr(front, "_STORE_WAIT_S", 60.0)
    prompts = [
        {**CHAT, "max_tokens": 200, "messages": [{"role": "user", "content": f"Question {i}?"}]}
        for i in "abc"
    ]

    async def body(sc: InProcess) -> None:
        for p in prompts:
            assert (await chat(sc, p)).headers["x-arbiter-cache"] == "miss"
        listed = (await sc.client.get("/arbiter/cache", headers=sc.admin)).json()["data"]
        assert len(listed) == 2 and sc.services.cache.size == 2
        assert (await chat(sc, prompts[0])).headers["x-arbiter-cache"] == "miss"  # evicted
        assert (await chat(sc, prompts[0])).headers["x-arbiter-cache"] == "hit"
        counts = sc.services.cache.counts
        assert (counts["stored"], counts["evicted"], counts["cut"], counts["errors"]) == (
            4,
            2,
            0,
            0,
        )

    run(tmp_path, body, edit_config=cache_config("max_entries = 2\n"))


def test_a_tenant_is_never_served_another_tenants_entry(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        other = create_key(sc.services.store, "acme").key
        await chat(sc, CHAT)
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "hit"
        theirs = {"authorization": f"Bearer {other}"}
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=theirs)
        assert r.headers["x-arbiter-cache"] == "miss"
        assert (await decision(sc, r.headers["x-arbiter-decision-id"]))["tenant"] == "acme"
        off = create_key(sc.services.store, "nocache").key
        r = await sc.client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {off}"}
        )
        assert r.headers["x-arbiter-cache"] == "bypass"  # [tenants.nocache] cache = false

    run(
        tmp_path,
        body,
        edit_config=lambda t: t + CACHE_ON + "\n[tenants.nocache]\ncache = false\n",
    )


def test_a_tenant_with_the_cache_on_gets_it_while_others_do_not(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        r = await chat(sc, CHAT)
        assert "x-arbiter-cache" not in r.headers or r.headers["x-arbiter-cache"] == "bypass"
        mine = create_key(sc.services.store, "cached").key
        head = {"authorization": f"Bearer {mine}"}
        for want in ("miss", "hit"):
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=head)
            await sc.services.cache.drain()
            assert r.headers["x-arbiter-cache"] == want

    run(tmp_path, body, edit_config=lambda t: t + "\n[tenants.cached]\ncache = true\n")


def test_errors_and_broken_streams_are_never_cached(tmp_path: Path) -> None:
    async def control(sc: InProcess, patch: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as c:
            url = sc.sim.base_url.removesuffix("/v1") + "/_sim/control"
            assert (await c.post(url, json={"model": "*", **patch})).status_code == 200

    async def body(sc: InProcess) -> None:
        await control(sc, {"error_5xx": 1.0})
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code >= 500, r.text
        await sc.services.cache.drain()
        assert sc.services.cache.size == 0
        await control(sc, {"error_5xx": 0.0, "stream_cut": 1.0, "stream_cut_after": 2})
        r = await sc.client.post(
            "/v1/chat/completions", json={**CHAT, "stream": True}, headers=sc.auth
        )
        chunks, done = openai_chunks(r.content)
        assert not done and "error" in chunks[-1]
        await sc.services.cache.drain()
        await control(sc, {"stream_cut": 0.0})
        assert sc.services.cache.size == 0
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "miss"
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "hit"

    run(tmp_path, body, edit_config=cache_config())


def test_n_above_one_and_answers_canonical_cannot_hold_bypass(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        for extra in ({"n": 2}, {"logprobs": True}):
            for _ in range(2):
                r = await chat(sc, {**CHAT, **extra})
                assert r.headers["x-arbiter-cache"] == "bypass"
        assert sc.services.cache.size == 0
        assert (await chat(sc, {**CHAT, "n": 1})).headers["x-arbiter-cache"] == "miss"

    run(tmp_path, body, edit_config=cache_config())


def test_every_field_that_shapes_the_answer_is_in_the_key(tmp_path: Path) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    variants: list[dict[str, Any]] = [
        {"temperature": 0.2}, {"top_p": 0.5}, {"seed": 3}, {"stop": ["x"]}, {"max_tokens": 40},
        {"tools": [tool]}, {"tools": [tool], "tool_choice": "none"},
        {"response_format": {"type": "json_object"}}, {"model": "sim-small"},
        {"messages": [{"role": "system", "content": "Be terse."}, *USER]},
    ]  # fmt: skip

    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        for extra in variants:
            r = await chat(sc, {**CHAT, **extra})
            assert r.headers["x-arbiter-cache"] == "miss", extra
            assert (await chat(sc, {**CHAT, **extra})).headers["x-arbiter-cache"] == "hit"
        # delivery-only fields share the entry
        r = await chat(sc, {**CHAT, "user": "someone", "stream_options": None})
        assert r.headers["x-arbiter-cache"] == "hit"

    run(tmp_path, body, edit_config=cache_config())


def test_completion_bodies_validate_against_the_openai_spec(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await chat(sc, CHAT)
        hit = await chat(sc, CHAT)
        check_completion(hit.content)
        assert orjson.loads(hit.content)["id"].startswith("chatcmpl-")

    run(tmp_path, body, edit_config=cache_config())


def test_an_answer_clamped_by_one_keys_cap_is_not_served_to_another_key(tmp_path: Path) -> None:
    """A key-scoped budget cap makes Arbiter enforce budgets.default_max_output_tokens on that
    key's requests that set none; the clamp is not in the body, yet it truncates the answer,
    so another key of the same tenant without the cap must not be served it."""
    caps = (
        "\n[budgets]\ndefault_max_output_tokens = 3\n"
        '[[budgets.caps]]\nscope = "key"\nname = "admin"\nlimit_usd = 100.0\n'
    )

    async def body(sc: InProcess) -> None:
        capped = await chat(sc, CHAT, **sc.admin)  # the admin key, tenant "default", capped
        assert capped.headers["x-arbiter-cache"] == "miss"
        assert capped.json()["choices"][0]["finish_reason"] == "length"
        assert (await chat(sc, CHAT, **sc.admin)).headers["x-arbiter-cache"] == "hit"
        uncapped = await chat(sc, CHAT)  # same tenant, a key no cap binds
        assert uncapped.headers["x-arbiter-cache"] == "miss"
        # not the capped key's 3-token answer (whether the routed model then stops or hits its
        # own output limit depends on which model the seeded draw picks)
        assert uncapped.json()["usage"]["completion_tokens"] > 3
        assert (await chat(sc, CHAT)).headers["x-arbiter-cache"] == "hit"

    run(tmp_path, body, edit_config=lambda t: t + caps + CACHE_ON)
