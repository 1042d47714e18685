"""A cache hit costs this request nothing (README: recorded with cost 0; `x-arbiter-cost-usd`
0): its body says so too. The miss of an upstream that reports its cost (`usage.cost`,
OpenRouter's style) carried that cost; the hit of the same answer carried no cost at all, so a
client summing `usage.cost` could not tell a free hit from an answer whose cost is unknown. Now
its usage says `cost: 0`, in both surfaces, streamed (the OpenAI usage chunk, Anthropic's
message_delta) and not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import anthropic_events, check_completion, check_message, openai_chunks

USER = [{"role": "user", "content": "What is the capital of France?"}]


def _usage(path: str, streamed: bool, r: httpx.Response) -> dict[str, Any]:
    """The usage a client reads from the answer: the body's, or the stream's last one."""
    if not streamed:
        if path == "/v1/chat/completions":
            check_completion(r.content)
        else:
            check_message(r.content)
        usage: dict[str, Any] = r.json()["usage"]
        return usage
    if path == "/v1/chat/completions":
        chunks, done = openai_chunks(r.content)
        assert done
        last = chunks[-1]
        assert last["choices"] == [] and last["usage"] is not None, last
        return dict(last["usage"])
    delta = [e for e in anthropic_events(r.content) if e["type"] == "message_delta"]
    assert len(delta) == 1, delta
    return dict(delta[0]["usage"])


def test_a_cache_hit_says_it_cost_nothing(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with httpx.AsyncClient(base_url=sc.sim.root_url) as sim:
            r = await sim.post("/_sim/control", json={"model": "*", "report_cost": "body"})
            assert r.status_code == 200, r.text
        anthropic = {**sc.auth, "anthropic-version": "2023-06-01"}
        for path, payload, headers in [
            ("/v1/chat/completions", {"model": "sim-small", "messages": USER}, sc.auth),
            ("/v1/messages", {"model": "sim-medium", "max_tokens": 100, "messages": USER},
             anthropic),
        ]:  # fmt: skip
            miss = await sc.client.post(path, json=payload, headers=headers)
            await sc.services.cache.drain()
            assert miss.headers["x-arbiter-cache"] == "miss"
            assert miss.json()["usage"]["cost"] == float(miss.headers["x-arbiter-cost-usd"]) > 0
            for streamed in (False, True):
                extra: dict[str, Any] = {"stream": True} if streamed else {}
                if streamed and path == "/v1/chat/completions":
                    extra["stream_options"] = {"include_usage": True}
                hit = await sc.client.post(path, json={**payload, **extra}, headers=headers)
                assert hit.status_code == 200, hit.text
                assert hit.headers["x-arbiter-cache"] == "hit", (path, streamed)
                assert hit.headers["x-arbiter-cost-usd"] == "0.00000000"
                usage = _usage(path, streamed, hit)
                assert usage.get("cost") == 0, (path, streamed, usage)
                assert usage.get("completion_tokens", usage.get("output_tokens")), usage

    run_with_claude(tmp_path, body, edit_config=lambda text: text + "\n[cache]\nenabled = true\n")


def test_a_hit_stream_without_a_usage_chunk_gets_none_added() -> None:
    """Without include_usage an OpenAI stream has no usage chunk: nothing is added."""
    from arbiter.cache.answer import with_hit_cost_frames

    frame = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
    assert with_hit_cost_frames([frame]) == [frame]
    delta = (b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
             b'"end_turn"},"usage":{"output_tokens":3}}\n\n')  # fmt: skip
    (out,) = with_hit_cost_frames([delta])
    assert out.startswith(b"event: message_delta\ndata: ")
    assert orjson.loads(out.split(b"data: ", 1)[1])["usage"] == {"output_tokens": 3, "cost": 0.0}


def test_a_responses_api_hit_says_it_cost_nothing_as_chat_hits_do(tmp_path: Path) -> None:
    """/v1/responses hits rendered their own Response (and stream) without `cost: 0` in its
    usage, while chat's and messages' hits said it: every surface's hit says the same now."""

    async def body(sc: InProcess) -> None:
        payload = {"model": "sim-small", "input": "What is the capital of France?"}
        miss = await sc.client.post("/v1/responses", json=payload, headers=sc.auth)
        assert miss.status_code == 200, miss.text
        assert miss.headers["x-arbiter-cache"] == "miss"
        await sc.services.cache.drain()
        for streamed in (False, True):
            hit = await sc.client.post(
                "/v1/responses", json={**payload, "stream": streamed}, headers=sc.auth
            )
            assert hit.status_code == 200, hit.text
            assert hit.headers["x-arbiter-cache"] == "hit", streamed
            assert hit.headers["x-arbiter-cost-usd"] == "0.00000000"
            if streamed:
                events = [orjson.loads(line[6:]) for line in hit.text.splitlines()
                          if line.startswith("data: ")]  # fmt: skip
                (done,) = [e for e in events if e["type"] == "response.completed"]
                usage = done["response"]["usage"]
            else:
                usage = hit.json()["usage"]
            assert usage.get("cost") == 0, (streamed, usage)
            assert usage["output_tokens"] > 0, usage

    run_with_claude(tmp_path, body, edit_config=lambda text: text + "\n[cache]\nenabled = true\n")
