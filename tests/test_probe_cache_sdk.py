"""Outside probes of the response cache through the official SDKs (in-process sidecar, sim pool):
what a user would hit when the cache answers where it must not, or calls upstream where it
need not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from arbiter.cache.service import ResponseCache
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart
from arbiter.config import CacheSettings
from arbiter.principal import Principal
from arbiter.store import open_store
from arbiter.surfaces.openai_chat import parse_chat_request
from tests.inproc import InProcess, run_with_claude, sidecar_in_process
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


async def _sim(sc: InProcess, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient() as sim:
        base = sc.sim.base_url.removesuffix("/v1")
        r = await (sim.post(base + path, json=body) if body is not None else sim.get(base + path))
        r.raise_for_status()
        return r.json()


async def _upstream_calls(sc: InProcess) -> int:
    """Calls to the answering models (the sim's grading judge is called on its own)."""
    stats = await _sim(sc, "/_sim/stats")
    return sum(m["requests"] for name, m in stats["models"].items() if name != "judge")


def test_identical_concurrent_requests_make_one_upstream_call(tmp_path: Path) -> None:
    """A stampede is a cost defect: 20 identical requests at once (none cached yet) were 20
    upstream calls, each billed; one leads, the others are served its answer as hits."""

    async def body(sc: InProcess) -> None:
        messages = [{"role": "user", "content": "Explain what a cache stampede is."}]
        async with sdks(sc) as (_, gpt):
            before = await _upstream_calls(sc)
            answers = await asyncio.gather(
                *(
                    gpt.chat.completions.with_raw_response.create(model="auto", messages=messages)
                    for _ in range(20)
                )
            )
            calls = await _upstream_calls(sc) - before
        statuses = sorted(a.headers["x-arbiter-cache"] for a in answers)
        assert calls == 1, (calls, statuses)
        assert statuses == ["hit"] * 19 + ["miss"]
        assert sc.services.cache.view()["coalesced"] == 19
        texts = {a.parse().choices[0].message.content for a in answers}
        assert len(texts) == 1 and texts != {None}
        # the followers are recorded as hits of the leader's decision, charged nothing
        leader = next(a for a in answers if a.headers["x-arbiter-cache"] == "miss")
        for a in answers:
            if a.headers["x-arbiter-cache"] == "hit":
                assert a.headers["x-arbiter-cost-usd"] == "0.00000000"
                source = a.headers["x-arbiter-cache-source-decision-id"]
                assert source == leader.headers["x-arbiter-decision-id"]

    run(tmp_path, body)


async def _leading(sc: InProcess, leader: Awaitable[Any]) -> asyncio.Task[Any]:
    """`leader` started and leading its key's flight (the requests after it find it)."""
    task = asyncio.ensure_future(leader)
    for _ in range(2000):  # 10 s at most
        if sc.services.cache._flights:
            return task
        await asyncio.sleep(0.005)
    raise AssertionError("the leader never led a flight")


def test_a_streamed_leader_serves_the_requests_waiting_and_streams_join_it(
    tmp_path: Path,
) -> None:
    """A stream leads: identical non-streamed requests arriving meanwhile wait and are served its
    answer (no upstream call); an identical stream joins its answer as it comes (a hit); a
    request with a latency SLO of its own does not wait: a miss."""

    async def body(sc: InProcess) -> None:
        messages: Any = [{"role": "user", "content": "Name three long rivers."}]
        async with sdks(sc) as (_, gpt):

            async def streamed() -> tuple[str, str, Any]:
                raw = await gpt.chat.completions.with_raw_response.create(
                    model="sim-medium", messages=messages, stream=True,
                    stream_options={"include_usage": True},
                )  # fmt: skip
                text, usage, finish = "", None, None
                async for chunk in raw.parse():
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                    if chunk.choices and chunk.choices[0].finish_reason:
                        finish = chunk.choices[0].finish_reason
                    if chunk.usage is not None:
                        usage = chunk.usage
                assert finish == "stop" and usage is not None and usage.completion_tokens > 0
                return raw.headers["x-arbiter-cache"], text, usage

            async def plain(**kw: Any) -> Any:
                return await gpt.chat.completions.with_raw_response.create(
                    model="sim-medium", messages=messages, **kw
                )

            before = await _upstream_calls(sc)
            leader = await _leading(sc, streamed())
            waiting = await asyncio.gather(
                *(plain() for _ in range(6)),
                streamed(),
                plain(extra_headers={"x-arbiter-max-latency-ms": "60000"}),
            )
            status, text, _ = await leader
            calls = await _upstream_calls(sc) - before
        followers, other_stream, with_slo = waiting[:6], waiting[6], waiting[7]
        assert status == "miss" and text
        assert [f.headers["x-arbiter-cache"] for f in followers] == ["hit"] * 6
        assert {f.parse().choices[0].message.content for f in followers} == {text}
        # an identical stream joins the leader's answer as it comes (coalesce27); before, it
        # made its own call
        assert other_stream[0] == "hit" and other_stream[1] == text
        assert with_slo.headers["x-arbiter-cache"] == "miss"
        assert calls == 2, calls  # the leader and the SLO request

    run(tmp_path, body)


def test_anthropic_requests_wait_on_an_identical_stream_too(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        messages: Any = [{"role": "user", "content": "Name three tall mountains."}]
        async with sdks(sc) as (claude, _):

            async def streamed() -> tuple[str, Any]:
                async with claude.messages.stream(
                    model="sim-medium", max_tokens=300, messages=messages
                ) as stream:
                    final = await stream.get_final_message()
                    return stream.response.headers["x-arbiter-cache"], final

            async def plain() -> Any:
                return await claude.messages.with_raw_response.create(
                    model="sim-medium", max_tokens=300, messages=messages
                )

            before = await _upstream_calls(sc)
            leader = await _leading(sc, streamed())
            followers = await asyncio.gather(*(plain() for _ in range(5)))
            status, final = await leader
            calls = await _upstream_calls(sc) - before
        assert status == "miss" and calls == 1, (status, calls)
        assert [f.headers["x-arbiter-cache"] for f in followers] == ["hit"] * 5
        for f in followers:
            m = await f.parse()
            assert m.content[0].text == final.content[0].text and m.stop_reason == "end_turn"
            assert m.usage.output_tokens == final.usage.output_tokens > 0

    run_with_claude(tmp_path, body, edit_config=lambda t: t + CACHE_ON)


def test_followers_of_a_failed_leader_go_on_as_misses(tmp_path: Path) -> None:
    """The leader's upstream fails: nothing is stored, and the ones waiting on it neither hang
    nor are served anything; each gets its own answer (here: the same error) promptly."""

    async def body(sc: InProcess) -> None:
        await _sim(sc, "/_sim/control", {"model": "sim-small", "down": True})
        payload = {"model": "sim-small", "messages": [{"role": "user", "content": "Hello?"}]}

        async def one() -> httpx.Response:
            return await sc.client.post("/v1/chat/completions", json=payload, headers=sc.auth)

        async with asyncio.timeout(60):
            answers = await asyncio.gather(*(one() for _ in range(5)))
        assert all(a.status_code >= 500 for a in answers), [a.status_code for a in answers]
        assert all(a.headers.get("x-arbiter-cache") != "hit" for a in answers)
        assert sc.services.cache.size == 0

    run(tmp_path, body)


def test_a_leader_that_never_settles_holds_the_others_only_wait_s(tmp_path: Path) -> None:
    """A flight whose leader never settles (a bug, a lost task) must not stall its key forever:
    a follower waits at most `wait_s` and goes on as a miss, and the next request after that
    leads a fresh flight; the stale leader settling later leaves the fresh one alone."""

    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
        store.migrate()
        # wait_s: time enough for the follower's store read before the stale flight expires
        cache = ResponseCache(CacheSettings(enabled=True), {}, store, wait_s=0.5)
        req = parse_chat_request(
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]})
        )
        me = Principal("t1")
        started = time.monotonic()
        stale = await cache.lookup(req, me)
        assert stale.status == "miss" and stale.flight is not None
        # "at most wait_s" by the loop's timer order, not by a wall-clock bound (it was `< 2.0 s`):
        # the follower's wait_s timeout and a 10x wait_s timer fire in deadline order however
        # late a loaded host runs them, so the follower ends first unless it waits past wait_s
        ended: list[str] = []

        async def ends(name: str, step: Awaitable[Any]) -> Any:
            out = await step
            ended.append(name)
            return out

        later = asyncio.create_task(ends("10x wait_s", asyncio.sleep(5.0)))
        follower = await ends("follower", cache.lookup(req, me))
        later.cancel()
        assert ended == ["follower"]
        assert follower.status == "miss" and follower.flight is None
        assert time.monotonic() - started >= 0.45  # it did wait (a lower bound: load only adds)
        cache._wait_s = 3600.0  # the fresh flight: a wait no loaded host outlasts
        fresh = await cache.lookup(req, me)
        assert fresh.flight is not None  # the stale flight was replaced
        cache.settle(stale)
        waiting = asyncio.create_task(cache.lookup(req, me))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # still waiting on the fresh leader
        cache.remember(fresh, model="sim-small", task="chat", answer=ANSWER, cost_usd=0.01,
                       decision_id="dec_1")  # fmt: skip
        cache.settle(fresh)
        assert (await waiting).status == "hit"
        await cache.drain()
        store.close()

    asyncio.run(main())


def test_a_request_whose_store_read_outlasts_the_leader_is_a_hit(tmp_path: Path) -> None:
    """A request that missed the local front awaits a store read; meanwhile the leader answers,
    stores and settles. When the read comes back empty it must not lead a second upstream call
    (seen under load: 16 identical requests, 2 upstream calls): the stored answer is a hit."""

    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
        store.migrate()
        cache = ResponseCache(CacheSettings(enabled=True), {}, store)
        req = parse_chat_request(
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Hi"}]})
        )
        me = Principal("t1")
        leader = await cache.lookup(req, me)
        assert leader.flight is not None
        read_started, finish_read = asyncio.Event(), asyncio.Event()
        real_get = store.cache_get

        def slow_get(*args: Any) -> Any:  # the late request's store read, in its thread:
            row = real_get(*args)  # read before the leader stored its answer ...
            loop.call_soon_threadsafe(read_started.set)
            asyncio.run_coroutine_threadsafe(finish_read.wait(), loop).result(5)
            return row  # ... and back after it did

        loop = asyncio.get_running_loop()
        cache.settle(leader)  # the first flight over; a second leader is on its way
        second = await cache.lookup(req, me)
        assert second.flight is not None
        store.cache_get = slow_get  # type: ignore[method-assign]
        cache.settle(second)  # no flight now: the late request will read the store
        late = asyncio.create_task(cache.lookup(req, me))
        await read_started.wait()
        cache.remember(second, model="sim-small", task="chat", answer=ANSWER, cost_usd=0.01,
                       decision_id="dec_2")  # fmt: skip
        finish_read.set()
        looked = await late
        assert looked.status == "hit" and looked.flight is None
        await cache.drain()
        store.close()

    asyncio.run(main())


ANSWER = CanonicalResponse(
    "r1", "sim-small", (TextPart("Hello."),), "end_turn", CanonicalUsage(3, 2)
)


def test_the_front_is_bounded_in_bytes_with_long_answers(tmp_path: Path) -> None:
    """`max_entries` alone let long answers hold max_entries x their size (100,000 x 200 KB:
    20 GB per replica); `max_bytes` bounds the front by what it holds, the oldest evicted."""

    async def main() -> None:
        store = open_store(f"sqlite:///{tmp_path / 'arbiter.db'}")
        store.migrate()
        bound = 2 * 2**20
        cache = ResponseCache(CacheSettings(enabled=True, max_bytes=bound), {}, store)
        me = Principal("t1")
        long_answer = CanonicalResponse(
            "r", "sim-small", (TextPart("x" * 200_000),), "end_turn", CanonicalUsage(3, 50_000)
        )
        firsts = []
        for i in range(40):  # 40 x 200 KB = 8 MB offered
            req = parse_chat_request(
                orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": f"{i}"}]})
            )
            look = await cache.lookup(req, me)
            cache.remember(look, model="sim-small", task="chat", answer=long_answer,
                           cost_usd=0.01, decision_id=f"dec_{i}")  # fmt: skip
            cache.settle(look)
            firsts.append((req, look))
        view = cache.view()
        assert view["bytes"] <= bound, view
        assert 5 <= view["entries"] <= 10, view  # ~200 KB each under 2 MB
        assert view["evicted"] == 40 - view["entries"]
        held = sum(len(e.answer.parts[0].text) for e in cache._entries.values())
        assert held <= bound
        # the newest are kept (LRU): the last request is a hit, the first no longer in memory
        assert cache._entries.get(firsts[-1][1].keys.exact) is not None  # type: ignore[union-attr]
        assert cache._entries.get(firsts[0][1].keys.exact) is None  # type: ignore[union-attr]
        # one answer bigger than the whole bound is not kept (it would evict everything)
        huge = CanonicalResponse(
            "h", "sim-small", (TextPart("y" * (bound + 1)),), "end_turn", CanonicalUsage(3, 9)
        )
        req = parse_chat_request(
            orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "huge"}]})
        )
        look = await cache.lookup(req, me)
        before = cache.view()["entries"]
        cache.remember(look, model="sim-small", task="chat", answer=huge, cost_usd=0.01,
                       decision_id="dec_huge")  # fmt: skip
        cache.settle(look)
        assert cache.view()["entries"] == before and cache.counts["too_big"] == 1
        await cache.drain()
        store.close()

    asyncio.run(main())


def test_max_bytes_is_parsed_strictly() -> None:
    from arbiter import config
    from arbiter.errors import ConfigError
    from tests.test_config import ENV, EXAMPLE

    text = EXAMPLE.read_text()
    assert config.loads(text, env=ENV).cache.max_bytes == 256 * 2**20
    on = config.loads(text + "\n[cache]\nmax_bytes = 1048576\n", env=ENV)
    assert on.cache.max_bytes == 2**20
    for bad in ("0", "100", "-1", '"1GB"', "1.5e6", str(2**41)):
        with pytest.raises(ConfigError):
            config.loads(text + f"\n[cache]\nmax_bytes = {bad}\n", env=ENV)


def test_an_answer_under_an_anthropic_beta_is_not_served_without_it(tmp_path: Path) -> None:
    """`anthropic-beta` goes on to Anthropic upstreams, where a beta may change the answer:
    the header is part of the key (before: an answer made under a beta was a hit for the same
    body without it, and the other way round)."""

    async def body(sc: InProcess) -> None:
        messages: Any = [{"role": "user", "content": "Name three quiet birds."}]
        beta = ["token-efficient-tools-2025-02-19"]
        async with sdks(sc) as (claude, _):
            under = await claude.beta.messages.with_raw_response.create(
                model="sim-medium", max_tokens=200, messages=messages, betas=beta
            )
            await sc.services.cache.drain()
            plain = await claude.messages.with_raw_response.create(
                model="sim-medium", max_tokens=200, messages=messages
            )
            await sc.services.cache.drain()
            again = await claude.beta.messages.with_raw_response.create(
                model="sim-medium", max_tokens=200, messages=messages, betas=beta
            )
            plain_again = await claude.messages.with_raw_response.create(
                model="sim-medium", max_tokens=200, messages=messages
            )
        assert under.headers["x-arbiter-cache"] == "miss"
        assert plain.headers["x-arbiter-cache"] == "miss"
        assert again.headers["x-arbiter-cache"] == "hit"
        assert plain_again.headers["x-arbiter-cache"] == "hit"
        cached_for = again.headers["x-arbiter-cache-source-decision-id"]
        assert cached_for == under.headers["x-arbiter-decision-id"]

    run_with_claude(tmp_path, body, edit_config=lambda t: t + CACHE_ON)


def _asgi_scope(sc: InProcess, path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "server": ("arbiter", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {sc.api_key}".encode()),
                    (b"content-type", b"application/json")],
    }  # fmt: skip


def test_a_follower_whose_client_left_records_no_hit(tmp_path: Path) -> None:
    """A request waiting on an identical one in flight (a follower) whose client leaves: it was
    still served the leader's answer when the leader ended, recorded as a free cache hit and
    counted as coalesced, for a client no longer there. A normal request whose client leaves is
    cancelled; so is the follower's wait now: nothing recorded, nothing counted."""

    async def body(sc: InProcess) -> None:
        messages = [{"role": "user", "content": "Describe the water cycle."}]
        stream = {"model": "sim-small", "messages": messages, "stream": True}
        release = asyncio.Event()

        async def leader_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                await release.wait()  # the leader's relay is held until the follower left

        async def leader_receive() -> dict[str, Any]:
            if not sent:
                sent.append(True)
                return {"type": "http.request", "body": orjson.dumps(stream)}
            await asyncio.Event().wait()  # this client never leaves
            raise AssertionError

        sent: list[bool] = []
        leader = asyncio.ensure_future(
            sc.app(_asgi_scope(sc, "/v1/chat/completions"), leader_receive, leader_send)
        )
        for _ in range(2000):  # the leader leads its key's flight
            if sc.services.cache._flights:
                break
            await asyncio.sleep(0.005)
        flight = next(iter(sc.services.cache._flights.values()))

        leave = asyncio.Event()
        plain = {"model": "sim-small", "messages": messages}
        inbox = [{"type": "http.request", "body": orjson.dumps(plain)}]

        async def follower_receive() -> dict[str, Any]:
            if inbox:
                return inbox.pop(0)
            await leave.wait()
            return {"type": "http.disconnect"}

        async def follower_send(message: dict[str, Any]) -> None:
            pass

        follower = asyncio.ensure_future(
            sc.app(_asgi_scope(sc, "/v1/chat/completions"), follower_receive, follower_send)
        )
        for _ in range(2000):  # the follower waits on the leader's flight
            if flight.done._waiters:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.005)
        assert flight.done._waiters, "the follower never waited"  # type: ignore[attr-defined]
        leave.set()
        await asyncio.sleep(0.05)
        release.set()
        async with asyncio.timeout(30):
            await leader
            await follower
        await sc.services.cache.drain()
        sc.services.recorder.flush(5.0)
        r = await sc.client.get("/arbiter/decisions?limit=10", headers=sc.admin)
        rows = r.json()["data"]
        assert [row["mode"] for row in rows if row["mode"] == "cache"] == [], rows
        assert sc.services.cache.view()["coalesced"] == 0

    run(tmp_path, body)
