"""The semantic side's hook (arbiter.cache.matcher) as the response cache drives it, with a
stand-in matcher (the real one, arbiter.cache.semantic, is built on another branch): a match is
served only within the same tenant and context key, a prompt that cannot be embedded bypasses,
feedback teaches the matcher, and a restart re-adds stored embeddings. Plus the keys themselves
and the rendering of answers the simulator never writes (tool calls)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion

from arbiter.auth import create_key
from arbiter.cache.answer import Entry, dump_answer, load_answer, render, replay
from arbiter.cache.keys import control, keys_for, uncacheable
from arbiter.cache.matcher import SemanticMatch
from arbiter.cache.service import ResponseCache
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart, ToolCallPart
from arbiter.config import CacheSettings
from arbiter.principal import Principal
from tests.inproc import InProcess
from tests.sdk_clients import anthropic_events, openai_chunks
from tests.test_cache import CACHE_ON, CHAT, chat, run


class StandInMatcher:
    """Matches any embedded text to the last entry added, whatever its tenant or context (so
    the cache's own guards are what is tested); texts starting with "\\x00" are not embeddable."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str, str]] = []
        self.removed: list[str] = []
        self.learned: list[tuple[str, SemanticMatch, bool]] = []

    def embed(self, text: str) -> np.ndarray | None:
        if text.startswith("\x00"):
            return None
        return np.array([len(text), 1.0], dtype=np.float32)

    def add(
        self,
        tenant: str,
        context_key: str,
        entry_id: str,
        vector: np.ndarray,
        text: str | None = None,
    ) -> None:
        assert vector.dtype == np.float32 and text is not None
        self.added.append((tenant, context_key, entry_id))

    def lookup(
        self, tenant: str, context_key: str, text: str, vector: np.ndarray
    ) -> SemanticMatch | None:
        live = [e for e in self.added if e[2] not in self.removed]
        return SemanticMatch(live[-1][2], 0.93, 0.01) if live else None

    def remove(self, entry_id: str) -> None:
        self.removed.append(entry_id)

    def learn(self, tenant: str, match: SemanticMatch, wrong: bool) -> None:
        self.learned.append((tenant, match, wrong))


def semantic(sc: InProcess) -> StandInMatcher:
    matcher = StandInMatcher()
    sc.services.cache.matcher = matcher
    sc.services.cache.semantic = True
    return matcher


def corn(last: str, earlier: str = "How much water does corn need?") -> dict[str, Any]:
    return {
        **CHAT,
        "messages": [
            {"role": "user", "content": earlier},
            {"role": "assistant", "content": "About 500 mm a season."},
            {"role": "user", "content": last},
        ],
    }


def test_a_semantic_hit_stays_within_its_tenant_and_context(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        matcher = semantic(sc)
        first = await chat(sc, corn("And in a dry year?"))
        assert matcher.added and first.headers["x-arbiter-cache"] == "miss"
        r = await chat(sc, corn("And during a drought year?"))
        assert r.headers["x-arbiter-cache"] == "semantic-hit"
        assert r.headers["x-arbiter-cache-similarity"] == "0.9300"
        source = first.headers["x-arbiter-decision-id"]
        assert r.headers["x-arbiter-cache-source-decision-id"] == source
        assert (
            r.json()["choices"][0]["message"]["content"]
            == first.json()["choices"][0]["message"]["content"]
        )
        # "What about wheat?" after another earlier turn: another context, never this answer
        other = await chat(sc, corn("And in a dry year?", "How much water does wheat need?"))
        assert other.headers["x-arbiter-cache"] == "miss"
        # another tenant, same words: the matcher points at our entry, the cache refuses it
        acme = create_key(sc.services.store, "acme").key
        theirs = await sc.client.post(
            "/v1/chat/completions",
            json=corn("And during a drought year?"),
            headers={"authorization": f"Bearer {acme}"},
        )
        assert theirs.headers["x-arbiter-cache"] == "miss"
        # not embeddable: bypassed and counted
        before = sc.services.cache.counts["semantic_bypass"]
        r = await chat(sc, corn("\x00binary"))
        assert r.headers["x-arbiter-cache"] == "miss"
        assert sc.services.cache.counts["semantic_bypass"] == before + 1

    run(tmp_path, body, edit_config=lambda t: t + CACHE_ON)


def test_feedback_on_a_semantic_hit_teaches_the_matcher(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        matcher = semantic(sc)
        await chat(sc, corn("And in a dry year?"))
        hit = await chat(sc, corn("And in a very dry year?"))
        assert hit.headers["x-arbiter-cache"] == "semantic-hit"
        decision = hit.headers["x-arbiter-decision-id"]
        await asyncio.to_thread(sc.services.recorder.flush, 2.0)
        row = (await sc.client.get(f"/arbiter/decisions/{decision}", headers=sc.admin)).json()
        assert row["cache_kind"] == "semantic" and row["cache_info"]["similarity"] == 0.93
        sc.services.cache._served.clear()  # found through the decision feed, as elsewhere
        r = await sc.client.post(
            "/v1/feedback", json={"decision_id": decision, "score": 0.0}, headers=sc.auth
        )
        assert r.json()["cache"] == "semantic" and r.json()["invalidated"]
        tenant, match, wrong = matcher.learned[-1]
        assert tenant == "default" and wrong and match.similarity == 0.93
        assert match.entry_id in matcher.removed
        assert (await chat(sc, corn("And in a very dry year?"))).headers[
            "x-arbiter-cache"
        ] == "miss"

    run(tmp_path, body, edit_config=lambda t: t + CACHE_ON)


def test_a_restart_re_adds_stored_embeddings_to_the_matcher(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        semantic(sc)
        await chat(sc, corn("And in a dry year?"))
        await chat(sc, CHAT)  # a single user turn: embedded too
        matcher = StandInMatcher()
        fresh = ResponseCache(
            CacheSettings(enabled=True, semantic=True), {}, sc.services.store, matcher
        )
        await fresh.start()
        await fresh.stop()
        assert len(matcher.added) == 2 and {t for t, _, _ in matcher.added} == {"default"}

    run(tmp_path, body, edit_config=lambda t: t + CACHE_ON)


def test_keys_separate_the_last_user_turn_from_its_context() -> None:
    me = Principal("t1")
    a = keys_for("openai", corn("What about wheat?"), me)
    b = keys_for("openai", corn("What about rice?"), me)
    c = keys_for("openai", corn("What about wheat?", "How much water does rice need?"), me)
    assert a.exact != b.exact and a.context == b.context and a.text == "What about wheat?"
    assert c.context != a.context
    assert keys_for("openai", corn("What about wheat?"), Principal("t2")).context != a.context
    assert keys_for("anthropic", corn("What about wheat?"), me).exact != a.exact
    assert keys_for("openai", {**corn("x"), "stream": True, "user": "u"}, me).exact == (
        keys_for("openai", corn("x"), me).exact
    )
    parts = {**CHAT, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    assert keys_for("openai", parts, me).text == "hi"
    ends_with_tool = {**CHAT, "messages": [*corn("x")["messages"], {"role": "assistant"}]}
    assert keys_for("openai", ends_with_tool, me).context is None
    assert uncacheable({"n": 3}) and uncacheable({"thinking": {"type": "enabled"}})
    assert uncacheable({"n": 1}) is None
    assert control("no-cache") == (False, True) and control("NO-STORE") == (False, False)
    assert control("max-age=0") == (True, True) and control(None) == (True, True)


TOOL_ANSWER = CanonicalResponse(
    "src",
    "m",
    (TextPart("Let me check."), ToolCallPart("call_1", "weather", '{"city": "Paris"}')),
    "tool_use",
    CanonicalUsage(12, 7),
)


def test_a_tool_call_answer_renders_and_replays_in_both_protocols() -> None:
    entry = Entry(
        "e", "t", "e", None, "sim-medium", "chat", load_answer(dump_answer(TOOL_ANSWER)),
        0.001, "dec_src", 0.0, 1e12,
    )  # fmt: skip
    assert entry.answer == TOOL_ANSWER
    completion = ChatCompletion.model_validate(orjson.loads(render(entry, "openai", "d1", 1)))
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.arguments == '{"city": "Paris"}'  # type: ignore[union-attr]
    message = Message.model_validate(orjson.loads(render(entry, "anthropic", "d1", 1)))
    assert message.stop_reason == "tool_use" and message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    chunks, done = openai_chunks(
        b"".join(replay(entry, "openai", "d1", include_usage=True, created=1))
    )
    assert done and chunks[-1]["usage"]["completion_tokens"] == 7
    calls = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "weather"
    events = anthropic_events(
        b"".join(replay(entry, "anthropic", "d1", include_usage=False, created=1))
    )
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_the_cache_section_is_parsed_strictly() -> None:
    from arbiter import config
    from arbiter.errors import ConfigError
    from tests.test_config import ENV, EXAMPLE

    text = EXAMPLE.read_text()
    s = config.loads(text, env=ENV)
    assert s.cache == CacheSettings() and not s.cache.enabled and s.cache.max_false_hit_rate == 0.02
    on = config.loads(text + "\n[cache]\nenabled = true\nsemantic = true\nttl_s = 60\n", env=ENV)
    assert on.cache.enabled and on.cache.semantic and on.cache.ttl_s == 60.0
    for bad in (
        "[cache]\nenable = true\n",
        "[cache]\nmax_false_hit_rate = 0\n",
        "[cache]\nmax_false_hit_rate = 0.6\n",
        "[cache]\nmax_entries = 0\n",
        "[cache]\nttl_s = -1\n",
        '[cache]\nenabled = "yes"\n',
        '[tenants.acme]\ncache = "on"\n',
    ):
        with pytest.raises(ConfigError):
            config.loads(text + "\n" + bad, env=ENV)
    t = config.loads(text + "\n[tenants.acme]\ncache = true\n", env=ENV)
    assert t.tenants["acme"].cache is True
