"""Identical concurrent streams share one upstream call (coalesce27): the first leads, the ones
arriving while it streams join its answer as it comes (cache hits, cost 0). A real sidecar on
127.0.0.1, the official SDKs as clients, a scripted upstream counting calls (coalesce_rig.py).
Before: every stream made its own call (cache26: 100 streams, 100 calls)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from arbiter.auth import create_key
from tests.coalesce_rig import ANSWER, Rig, Script, coalescing_rig
from tests.conftest import ADMIN_KEY

ASK = [{"role": "user", "content": "Tell me about tides."}]


def _gpt(rig: Rig) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=rig.key, base_url=rig.url + "/v1", max_retries=0)


def _claude(rig: Rig) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=rig.key, base_url=rig.url, max_retries=0)


@contextlib.asynccontextmanager
async def _claude_stream(rig: Rig) -> AsyncIterator[Any]:
    """One Anthropic SDK stream of ASK to an-raw."""
    async with (
        _claude(rig) as claude,
        claude.messages.stream(
            model="an-raw",
            max_tokens=200,
            messages=ASK,  # type: ignore[arg-type]
        ) as stream,
    ):
        yield stream


async def _openai_stream(rig: Rig, *, usage: bool) -> tuple[str, dict[str, str], Any]:
    """The text, the headers and the last usage one OpenAI stream got."""
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if usage else {}
    async with _gpt(rig) as gpt:
        raw = await gpt.chat.completions.with_raw_response.create(
            model="oa-raw", messages=ASK, stream=True, **extra
        )
        text, last_usage, ids = "", None, set()
        async for chunk in raw.parse():
            ids.add(chunk.id)
            for choice in chunk.choices:
                text += choice.delta.content or ""
            if chunk.usage is not None:
                last_usage = chunk.usage
    assert len(ids) == 1
    return text, dict(raw.headers), last_usage


async def _joined(rig: Rig, n: int) -> None:
    """Wait (bounded) until `n` streams joined the one in flight."""
    async with asyncio.timeout(20):
        while rig.services.cache.counts["coalesced"] < n:  # noqa: ASYNC110 (a counter)
            await asyncio.sleep(0.01)


def test_identical_openai_streams_share_one_call_with_or_without_usage(tmp_path: Path) -> None:
    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            leader = asyncio.create_task(_openai_stream(rig, usage=True))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            followers = [
                asyncio.create_task(_openai_stream(rig, usage=i % 2 == 0)) for i in range(6)
            ]
            await _joined(rig, 6)
            rig.script.release.set()
            first = await leader
            rest = await asyncio.gather(*followers)
            assert rig.script.calls == 1, "one upstream call for seven identical streams"
            assert first[0] == ANSWER and first[1]["x-arbiter-cache"] == "miss"
            for i, (text, headers, usage) in enumerate(rest):
                assert text == ANSWER, "a follower that joined mid-stream got every event"
                assert headers["x-arbiter-cache"] == "hit"
                assert headers["x-arbiter-cost-usd"] == "0.00000000"
                if i % 2 == 0:
                    assert usage is not None and usage.completion_tokens == 40
                    assert usage.model_extra is not None and usage.model_extra["cost"] == 0.0
                else:
                    assert usage is None
            # the answer is stored: the next one is an ordinary hit
            again = await _openai_stream(rig, usage=False)
            assert again[0] == ANSWER and again[1]["x-arbiter-cache"] == "hit"
            assert rig.script.calls == 1

    asyncio.run(main())


def test_identical_anthropic_streams_share_one_call(tmp_path: Path) -> None:
    async def one(rig: Rig) -> tuple[str, str, int]:
        async with _claude_stream(rig) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert final.usage.input_tokens == 9  # the leader's upstream's count
        return text, final.id, final.usage.output_tokens

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            leader = asyncio.create_task(one(rig))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            followers = [asyncio.create_task(one(rig)) for _ in range(3)]
            await _joined(rig, 3)
            rig.script.release.set()
            got = [await leader, *await asyncio.gather(*followers)]
            assert rig.script.calls == 1
            assert all(text == ANSWER and out == 40 for text, _, out in got)
            assert len({mid for _, mid, _ in got}) == 4, "each stream has its own message id"

    asyncio.run(main())


def test_the_call_goes_on_for_a_follower_when_the_leaders_client_leaves(tmp_path: Path) -> None:
    async def leaving(rig: Rig, go: asyncio.Event) -> None:
        async with _gpt(rig) as gpt:
            stream = await gpt.chat.completions.create(model="oa-raw", messages=ASK, stream=True)
            async for _ in stream:
                break  # one chunk, then gone (once the follower joined)
            await go.wait()
            await stream.close()

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            go = asyncio.Event()
            leader = asyncio.create_task(leaving(rig, go))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            follower = asyncio.create_task(_openai_stream(rig, usage=False))
            await _joined(rig, 1)
            go.set()
            await leader  # its client is gone while the upstream is held
            await asyncio.sleep(0.2)
            rig.script.release.set()
            text, headers, _ = await follower
            assert text == ANSWER and headers["x-arbiter-cache"] == "hit"
            assert rig.script.calls == 1 and rig.script.completed == 1

    asyncio.run(main())


def test_a_failure_before_the_first_byte_lets_followers_make_their_own_calls(
    tmp_path: Path,
) -> None:
    """The leader's failover is spent on a failing call; the streams waiting on it are not
    failed by it: each goes on as a miss of its own (as a whole-answer follower does)."""

    async def main() -> None:
        script = Script(hold=False, fail_first=1)
        async with coalescing_rig(tmp_path, script) as rig:
            results = await asyncio.gather(
                *(_openai_stream(rig, usage=False) for _ in range(4)), return_exceptions=True
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            ok = [r for r in results if not isinstance(r, BaseException)]
            assert len(failed) <= 1 and all(isinstance(f, openai.APIError) for f in failed)
            assert all(text == ANSWER for text, _, _ in ok) and len(ok) >= 3

    asyncio.run(main())


@pytest.mark.parametrize("surface", ["openai", "anthropic"])
def test_a_failure_mid_stream_ends_every_listener_with_the_same_error(
    tmp_path: Path, surface: str
) -> None:
    async def one(rig: Rig) -> str:
        try:
            if surface == "openai":
                await _openai_stream(rig, usage=False)
            else:
                async with _claude_stream(rig) as stream:
                    async for _ in stream.text_stream:
                        pass
        except (openai.APIError, anthropic.APIError) as err:
            return type(err).__name__
        return "no error"

    async def main() -> None:
        async with coalescing_rig(tmp_path, Script(break_after=6)) as rig:
            leader = asyncio.create_task(one(rig))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            followers = [asyncio.create_task(one(rig)) for _ in range(3)]
            await _joined(rig, 3)
            rig.script.release.set()
            got = [await leader, *await asyncio.gather(*followers)]
            assert rig.script.calls == 1
            assert "no error" not in got and len(set(got)) == 1, got

    asyncio.run(main())


def test_a_stream_from_another_tenant_never_joins(tmp_path: Path) -> None:
    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            same = asyncio.create_task(_openai_stream(rig, usage=False))
            await _joined(rig, 1)
            other = Rig(
                rig.url, create_key(rig.services.store, "acme").key, rig.services, rig.script
            )
            outsider = asyncio.create_task(_openai_stream(other, usage=False))
            async with asyncio.timeout(20):
                while rig.script.calls < 2:  # noqa: ASYNC110 (the upstream's counter)
                    await asyncio.sleep(0.01)
            rig.script.release.set()
            got = [await leader, await same, await outsider]
            assert [g[1]["x-arbiter-cache"] for g in got] == ["miss", "hit", "miss"]
            assert all(g[0] == ANSWER for g in got) and rig.script.calls == 2

    asyncio.run(main())


def test_a_follower_that_does_not_read_slows_no_one(tmp_path: Path) -> None:
    """A follower whose client stops reading holds no one back: the leader and another
    follower end meanwhile; it reads the whole answer when it comes back (its own cursor)."""

    async def main() -> None:
        async with (
            coalescing_rig(tmp_path, Script(chunk_s=0.002)) as rig,
            httpx.AsyncClient(timeout=30) as http,
        ):
            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            body = {"model": "oa-raw", "messages": ASK, "stream": True}
            auth = {"authorization": f"Bearer {rig.key}"}
            async with http.stream(
                "POST", rig.url + "/v1/chat/completions", json=body, headers=auth
            ) as idle:
                other = asyncio.create_task(_openai_stream(rig, usage=False))
                await _joined(rig, 2)
                rig.script.release.set()
                assert (await leader)[0] == ANSWER and (await other)[0] == ANSWER
                raw = b"".join([b async for b in idle.aiter_bytes()])
            assert idle.headers["x-arbiter-cache"] == "hit" and raw.endswith(b"data: [DONE]\n\n")
            assert "".join(raw.decode().split('"content":"')[1:]).count("w39") == 1
            assert rig.script.calls == 1

    asyncio.run(main())


def test_followers_hold_no_budget_the_leaders_hold_covers_the_one_call(tmp_path: Path) -> None:
    caps = '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = 100.0\n'

    async def main() -> None:
        async with (
            coalescing_rig(tmp_path, extra_config=caps) as rig,
            httpx.AsyncClient(timeout=30) as http,
        ):

            async def reserved() -> float:
                r = await http.get(
                    rig.url + "/arbiter/budgets", headers={"authorization": f"Bearer {ADMIN_KEY}"}
                )
                return sum(b["reserved_usd"] for b in r.json()["data"])

            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            held = await reserved()
            followers = [asyncio.create_task(_openai_stream(rig, usage=False)) for _ in range(3)]
            await _joined(rig, 3)
            assert held > 0 and await reserved() == held, "followers reserve nothing"
            rig.script.release.set()
            await leader
            assert all(f[0] == ANSWER for f in await asyncio.gather(*followers))
            assert rig.script.calls == 1

    asyncio.run(main())


def test_the_leaders_key_revoked_cuts_its_client_alone(tmp_path: Path) -> None:
    """A follower may hold another key of the tenant: the leader's key revoked mid-stream ends
    the leader's stream (one error event naming the revocation), the follower's goes on."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            mine = create_key(rig.services.store, "default")
            other = Rig(rig.url, mine.key, rig.services, rig.script)
            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            follower = asyncio.create_task(_openai_stream(other, usage=False))
            await _joined(rig, 1)
            await asyncio.sleep(0.1)  # the leader's client waits for its next event
            assert rig.services.key_streams.cut({rig.key_id}) == 1
            rig.script.release.set()
            with pytest.raises(openai.APIError) as cut:
                await leader
            assert "revoked" in cut.value.message
            text, headers, _ = await follower
            assert text == ANSWER and headers["x-arbiter-cache"] == "hit"
            assert rig.script.calls == 1 and rig.script.completed == 1
            # the leader's decision says what its client saw, billed the whole call once
            await asyncio.to_thread(rig.services.recorder.flush, 5.0)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            async with httpx.AsyncClient(timeout=30) as http:
                got = await http.get(f"{rig.url}/arbiter/decisions?limit=10", headers=admin)
            (lead,) = [d for d in got.json()["data"] if d["key_id"] == rig.key_id]
            assert lead["status"] == "failed" and lead["error"] == "invalid_api_key", lead
            assert lead["cost_usd"] > 0 and lead["completion_tokens"] == 40, lead

    asyncio.run(main())


def test_a_lone_leaders_key_revoked_ends_the_call_recorded_as_revoked(tmp_path: Path) -> None:
    """No follower listens: the revocation ends the call as it did before any coalescing (the
    error event, the decision failed for it, not a disconnect)."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig, httpx.AsyncClient(timeout=30) as http:
            body = {"model": "oa-raw", "messages": ASK, "stream": True}
            auth = {"authorization": f"Bearer {rig.key}"}
            async with http.stream(
                "POST", rig.url + "/v1/chat/completions", json=body, headers=auth
            ) as r:
                await asyncio.wait_for(rig.script.first_sent.wait(), 20)
                await asyncio.sleep(0.1)
                assert rig.services.key_streams.cut({rig.key_id}) == 1
                raw = b"".join([b async for b in r.aiter_bytes()])
            rig.script.release.set()
            assert b"revoked" in raw and not raw.endswith(b"data: [DONE]\n\n")
            await asyncio.to_thread(rig.services.recorder.flush, 5.0)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            decision_id = r.headers["x-arbiter-decision-id"]
            d = (await http.get(f"{rig.url}/arbiter/decisions/{decision_id}", headers=admin)).json()
            assert d["status"] == "failed" and d["error"] == "invalid_api_key", d  # KeyRevoked

    asyncio.run(main())


def test_feedback_on_a_followers_decision_removes_the_entry(tmp_path: Path) -> None:
    """A follower's decision is a cache hit: feedback finds its entry (a low score removes it)."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig, httpx.AsyncClient(timeout=30) as http:
            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            follower = asyncio.create_task(_openai_stream(rig, usage=False))
            await _joined(rig, 1)
            rig.script.release.set()
            await leader
            _, headers, _ = await follower
            await rig.services.cache.drain()
            await asyncio.to_thread(rig.services.recorder.flush, 5.0)
            r = await http.post(
                rig.url + "/v1/feedback", headers={"authorization": f"Bearer {rig.key}"},
                json={"decision_id": headers["x-arbiter-decision-id"], "score": 0.0},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            again = await _openai_stream(rig, usage=False)
            assert again[1]["x-arbiter-cache"] == "miss" and rig.script.calls == 2

    asyncio.run(main())


def test_the_call_is_cut_when_its_last_listener_leaves(tmp_path: Path) -> None:
    """The leader's client leaves, then the follower's: the call ends (recorded as the leader's
    disconnect) with the upstream still held, not run to its end for no one."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig, httpx.AsyncClient(timeout=30) as http:
            body = {"model": "oa-raw", "messages": ASK, "stream": True}
            auth = {"authorization": f"Bearer {rig.key}"}
            url = rig.url + "/v1/chat/completions"
            async with http.stream("POST", url, json=body, headers=auth) as leader:
                await asyncio.wait_for(rig.script.first_sent.wait(), 20)
                async with http.stream("POST", url, json=body, headers=auth) as follower:
                    await _joined(rig, 1)
                    await leader.aclose()  # the leader's client goes first
                    await asyncio.sleep(0.2)
                    assert rig.services.cache._flights, "the call went on for the follower"
                    assert follower.headers["x-arbiter-cache"] == "hit"
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            decision_id = leader.headers["x-arbiter-decision-id"]
            async with asyncio.timeout(20):
                while True:  # the follower's leave cuts the call, the upstream still held
                    await asyncio.to_thread(rig.services.recorder.flush, 5.0)
                    got = await http.get(
                        f"{rig.url}/arbiter/decisions/{decision_id}", headers=admin
                    )
                    if got.status_code == 200:
                        break
                    await asyncio.sleep(0.05)
            assert not rig.script.release.is_set()
            d = got.json()
            assert d["status"] == "failed" and d["error"] == "client_disconnected", d
            rig.script.release.set()

    asyncio.run(main())


def test_a_followers_own_key_revoked_ends_it_alone(tmp_path: Path) -> None:
    """A follower's key revoked mid-stream ends the follower as a routed stream of that key
    ends (one error event naming the revocation, its decision failed for it); the leader, of
    another key, reads its whole answer, one call (coalesce27b; before: it read to the end)."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig, httpx.AsyncClient(timeout=30) as http:
            mine = create_key(rig.services.store, "default")
            other = Rig(rig.url, mine.key, rig.services, rig.script)
            leader = asyncio.create_task(_openai_stream(rig, usage=False))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            follower = asyncio.create_task(_openai_stream(other, usage=False))
            await _joined(rig, 1)
            await asyncio.sleep(0.1)  # the follower waits on the leader's next word
            assert rig.services.key_streams.cut({mine.id}) == 1
            with pytest.raises(openai.APIError) as cut:
                await asyncio.wait_for(follower, 10)
            assert "revoked" in cut.value.message
            rig.script.release.set()
            text, headers, _ = await leader
            assert text == ANSWER and headers["x-arbiter-cache"] == "miss"
            assert rig.script.calls == 1 and rig.script.completed == 1
            await asyncio.to_thread(rig.services.recorder.flush, 5.0)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            got = await http.get(f"{rig.url}/arbiter/decisions?limit=10", headers=admin)
            mode_of = {
                d["key_id"]: (d["mode"], d["status"], d["error"]) for d in got.json()["data"]
            }
            assert mode_of[mine.id] == ("cache", "failed", "invalid_api_key"), mode_of

    asyncio.run(main())


def test_a_cache_replay_whose_key_is_revoked_ends_with_the_error_event() -> None:
    """A replayed hit is watched under its key as a relay is (coalesce27b): revoked while its
    client still reads, the next frame is the revocation's error event, and nothing after."""
    from arbiter.cache.answer import Replay
    from arbiter.key_streams import KeyStreams
    from arbiter.surfaces.openai_chat import sse_error_event

    async def main() -> None:
        streams = KeyStreams()
        replay = Replay([b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"],
                        (streams, "k1"), sse_error_event)  # fmt: skip
        assert await replay.__anext__() == b"data: 1\n\n"
        assert streams.keys() == ["k1"]
        assert streams.cut({"k1"}) == 1
        frame = await replay.__anext__()
        assert b"revoked" in frame and b"[DONE]" not in frame
        with pytest.raises(StopAsyncIteration):
            await replay.__anext__()
        assert streams.keys() == [], "the replay left the registry"

    asyncio.run(main())


def test_a_leader_whose_client_left_is_recorded_as_its_client_saw_it(tmp_path: Path) -> None:
    """The leader's client leaves mid-stream while a follower listens: the call runs to its end
    for the follower, and the leader's decision says what its client saw (failed,
    client_disconnected), billed the whole call once; the follower's is an ok hit that saved
    it (coalesce27b; before: the leader's decision was `ok`)."""

    async def leaving(rig: Rig, go: asyncio.Event) -> str:
        async with _gpt(rig) as gpt:
            raw = await gpt.chat.completions.with_raw_response.create(
                model="oa-raw", messages=ASK, stream=True
            )
            stream = raw.parse()
            async for _ in stream:
                break  # one chunk, then gone (once the follower joined)
            await go.wait()
            await stream.close()
            return raw.headers["x-arbiter-decision-id"]

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig, httpx.AsyncClient(timeout=30) as http:
            go = asyncio.Event()
            leader = asyncio.create_task(leaving(rig, go))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            follower = asyncio.create_task(_openai_stream(rig, usage=True))
            await _joined(rig, 1)
            go.set()
            leader_id = await leader
            await asyncio.sleep(0.2)
            rig.script.release.set()
            text, headers, usage = await follower
            assert text == ANSWER and rig.script.calls == 1 and rig.script.completed == 1
            await asyncio.to_thread(rig.services.recorder.flush, 5.0)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}

            async def decision(did: str) -> Any:
                return (await http.get(f"{rig.url}/arbiter/decisions/{did}", headers=admin)).json()

            lead = await decision(leader_id)
            hit = await decision(headers["x-arbiter-decision-id"])
            assert lead["status"] == "failed" and lead["error"] == "client_disconnected", lead
            assert lead["completion_tokens"] == usage.completion_tokens == 40
            assert lead["cost_usd"] > 0, "billed the whole call it made"
            assert hit["mode"] == "cache" and hit["status"] == "ok" and hit["cost_usd"] == 0
            assert hit["cache_saved_usd"] == lead["cost_usd"]
            stats = (await http.get(f"{rig.url}/arbiter/stats", headers=admin)).json()
            assert stats["cost_usd"] == pytest.approx(lead["cost_usd"]), "billed once"

    asyncio.run(main())


def _drain_rows(db: Path) -> list[tuple[str, str, str | None, float]]:
    with closing(sqlite3.connect(db)) as con:
        # (the learner's judge, grading a whole answer, records a decision of its own)
        query = "SELECT mode, status, error, cost_usd FROM decisions WHERE mode != 'judge'"
        rows = con.execute(query).fetchall()
    return sorted(rows)


async def _read(rig: Rig, http: httpx.AsyncClient) -> bytes:
    body = {"model": "oa-raw", "messages": ASK, "stream": True}
    auth = {"authorization": f"Bearer {rig.key}"}
    async with http.stream("POST", rig.url + "/v1/chat/completions", json=body, headers=auth) as r:
        return b"".join([b async for b in r.aiter_bytes()])


async def _three_listening(rig: Rig, http: httpx.AsyncClient) -> list[asyncio.Task[bytes]]:
    """A leader mid-stream (its upstream held) and two followers joined to it."""
    leader = asyncio.create_task(_read(rig, http))
    await asyncio.wait_for(rig.script.first_sent.wait(), 20)
    followers = [asyncio.create_task(_read(rig, http)) for _ in range(2)]
    await _joined(rig, 2)
    return [leader, *followers]


def _sigterm(rig: Rig) -> None:
    """SIGTERM's path (handle_exit), less the signal uvicorn raises again at its exit."""
    rig.server.handle_exit(signal.SIGTERM, None)
    rig.server._captured_signals.clear()


def test_sigterm_lets_a_leader_and_its_followers_finish_within_the_grace(tmp_path: Path) -> None:
    """SIGTERM with a leader and two followers mid-stream, the answer ending within the grace:
    each reads it whole, one call, billed once (a drain waits for them all)."""

    async def main() -> None:
        async with (
            coalescing_rig(tmp_path, grace_s=10.0) as rig,
            httpx.AsyncClient(timeout=30) as http,
        ):
            listeners = await _three_listening(rig, http)
            _sigterm(rig)
            await asyncio.sleep(0.3)
            rig.script.release.set()
            got = await asyncio.wait_for(asyncio.gather(*listeners), 10)
            for raw in got:
                assert raw.endswith(b"data: [DONE]\n\n") and b"w39" in raw, raw[-300:]
            assert rig.script.calls == 1
        rows = _drain_rows(tmp_path / "arbiter.db")
        assert [r[:3] for r in rows] == [
            ("cache", "ok", None), ("cache", "ok", None), (rows[2][0], "ok", None),
        ], rows  # fmt: skip
        assert rows[0][3] == rows[1][3] == 0 and rows[2][3] > 0, "the call billed once"

    asyncio.run(main())


def test_sigterm_with_a_leader_and_followers_mid_stream_ends_each_cleanly(tmp_path: Path) -> None:
    """SIGTERM with a leader and two followers mid-stream, the upstream held past the grace:
    each client reads one error event telling why (not a cut connection) within the grace,
    every decision recorded, the one call billed once, to the leader (coalesce27b; before:
    the followers' connections were cut with no event)."""

    async def main() -> None:
        async with (
            coalescing_rig(tmp_path, grace_s=1.0) as rig,
            httpx.AsyncClient(timeout=30) as http,
        ):
            listeners = await _three_listening(rig, http)
            _sigterm(rig)
            started = time.monotonic()
            got = await asyncio.wait_for(asyncio.gather(*listeners), 10)
            took = time.monotonic() - started
            rig.script.release.set()
            for raw in got:
                assert b"shutting down" in raw and b"[DONE]" not in raw, raw[-300:]
                assert raw.count(b'"error"') == 1, "one terminal error event"
            assert took < 1.0 + 3.0, took
            assert rig.script.calls == 1
        rows = _drain_rows(tmp_path / "arbiter.db")  # the app stopped: all written
        assert [r[:3] for r in rows] == [
            ("cache", "failed", "server_shutting_down"),
            ("cache", "failed", "server_shutting_down"),
            (rows[2][0], "failed", "server_shutting_down"),
        ], rows
        assert rows[0][3] == rows[1][3] == 0 and rows[2][3] > 0, "the call billed once"

    asyncio.run(main())


async def _responses_stream(rig: Rig) -> tuple[str, str, dict[str, str], Any]:
    """The text, the Response id, the headers and the final usage of one Responses stream."""
    async with _gpt(rig) as gpt:
        raw = await gpt.responses.with_raw_response.create(
            model="oa-raw", input="Tell me about tides.", stream=True
        )
        text, done = "", None
        async for event in raw.parse():
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.completed":
                done = event.response
    assert done is not None, "the stream ended with response.completed"
    return text, done.id, dict(raw.headers), done.usage


def test_identical_responses_streams_share_one_call(tmp_path: Path) -> None:
    """Responses API streams coalesce as chat ones do (coalesce27b; before: each its own call):
    each follower gets the whole answer in its own Response (own id), a hit at cost 0."""

    async def main() -> None:
        async with coalescing_rig(tmp_path) as rig:
            leader = asyncio.create_task(_responses_stream(rig))
            await asyncio.wait_for(rig.script.first_sent.wait(), 20)
            followers = [asyncio.create_task(_responses_stream(rig)) for _ in range(3)]
            await _joined(rig, 3)
            rig.script.release.set()
            first = await leader
            rest = await asyncio.gather(*followers)
            assert rig.script.calls == 1, "one upstream call for four identical streams"
            assert first[0] == ANSWER and first[2]["x-arbiter-cache"] == "miss"
            ids = {first[1]} | {r[1] for r in rest}
            assert len(ids) == 4, "each its own Response id"
            for text, rid, headers, usage in rest:
                assert text == ANSWER and headers["x-arbiter-cache"] == "hit"
                assert rid == "resp_" + headers["x-arbiter-decision-id"]
                assert usage.output_tokens == 40
                assert usage.model_extra is not None and usage.model_extra["cost"] == 0.0

    asyncio.run(main())
