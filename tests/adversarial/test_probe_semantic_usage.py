"""Outside probe: a semantic cache hit answered a LONGER prompt than the one that wrote the entry,
yet reported the source prompt's input tokens in `usage` (and recorded them on its decision):
a client metering its users by `usage.prompt_tokens` under-counted every such hit, in both
protocols, streamed or not. A semantic hit now reports this request's own input count (the
routing count, as for any request before the upstream reports usage) and no prompt-cache
tokens (those were the source call's); the output is the source answer's, as served. An exact
hit is the same prompt, so its usage stays the source's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.inproc import InProcess
from tests.sdk_clients import anthropic_events, openai_chunks
from tests.test_cache import CACHE_ON, chat, run
from tests.test_cache_semantic_hook import corn, semantic

LONG = "And during a drought year? " + " ".join(f"Consider field number {i}." for i in range(80))


def test_a_semantic_hit_reports_this_requests_input_tokens(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        semantic(sc)
        first = await chat(sc, corn("And in a dry year?"))
        assert first.headers["x-arbiter-cache"] == "miss"
        source = first.json()["usage"]
        exact = await chat(sc, corn("And in a dry year?"))
        assert exact.headers["x-arbiter-cache"] == "hit"
        assert exact.json()["usage"]["prompt_tokens"] == source["prompt_tokens"]

        hit = await chat(sc, corn(LONG))
        assert hit.headers["x-arbiter-cache"] == "semantic-hit"
        usage = hit.json()["usage"]
        # the long prompt has hundreds more tokens than the source's
        assert usage["prompt_tokens"] > source["prompt_tokens"] + 300, (usage, source)
        assert usage["completion_tokens"] == source["completion_tokens"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        want = usage["prompt_tokens"]

        streamed = await sc.client.post(
            "/v1/chat/completions",
            json={**corn(LONG), "stream": True, "stream_options": {"include_usage": True}},
            headers=sc.auth,
        )
        assert streamed.headers["x-arbiter-cache"] == "semantic-hit"
        chunks, done = openai_chunks(streamed.content)
        assert done and chunks[-1]["usage"]["prompt_tokens"] == want

        short = await sc.client.post(
            "/v1/messages",
            json={"max_tokens": 64, **corn("And in a dry year?")},
            headers=sc.anthropic,
        )
        assert short.headers["x-arbiter-cache"] == "miss", short.text
        anth = {"max_tokens": 64, **corn(LONG)}
        r = await sc.client.post("/v1/messages", json=anth, headers=sc.anthropic)
        assert r.headers["x-arbiter-cache"] == "semantic-hit", r.text
        anth_want = r.json()["usage"]["input_tokens"]
        assert anth_want > short.json()["usage"]["input_tokens"] + 300
        assert r.json()["usage"]["cache_read_input_tokens"] == 0
        r = await sc.client.post(
            "/v1/messages", json={**anth, "stream": True}, headers=sc.anthropic
        )
        assert r.headers["x-arbiter-cache"] == "semantic-hit", r.text
        events = anthropic_events(r.content)
        start = next(e for e in events if e["type"] == "message_start")
        assert start["message"]["usage"]["input_tokens"] == anth_want

        await asyncio.to_thread(sc.services.recorder.flush, 2.0)
        decision = await sc.client.get(
            f"/arbiter/decisions/{hit.headers['x-arbiter-decision-id']}", headers=sc.admin
        )
        assert orjson.loads(decision.content)["prompt_tokens"] == want

    run(tmp_path, body, edit_config=lambda t: t + CACHE_ON + "semantic = true\n")
