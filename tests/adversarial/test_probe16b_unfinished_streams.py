"""Outside probe (sixteenth session): an OpenAI-protocol stream that ends with no finish reason.

The same upstream bytes (content, a usage chunk, `[DONE]`, but no chunk with a `finish_reason`)
were a failure for a Chat Completions client (relay.py: "the stream ended without a finish
reason", an error event, the decision failed) and a success for an Anthropic Messages or a
Responses client: the stream decoder made up `end_turn`, so the client read a proper
`message_stop` / `response.completed` for an answer the upstream never finished, and the
decision was `ok` (the circuit breaker and the grades saw a good answer). Every surface now ends
it the same way: its error event, the decision failed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, recorded_decision, sidecar_in_process
from tests.sdk_clients import sse

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "Hi"}]
REQUESTS: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "oa-raw", "messages": USER, "max_tokens": 50},
    "/v1/messages": {"model": "oa-raw", "messages": USER, "max_tokens": 50},
    "/v1/responses": {"model": "oa-raw", "input": "Hi", "max_output_tokens": 50},
}


def _stream(finish: str | None) -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": finish}]},
        {**base, "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


async def _ask(tmp_path: Path, path: str, finish: str | None) -> tuple[bytes, dict[str, Any]]:
    """The client's stream and the recorded decision."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", _stream(finish)))

    async with scripted_upstream(answer) as (port, _):
        edit = raw_openai_upstream(port)
        async with sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc:
            r = await sc.client.post(
                path, json={**REQUESTS[path], "stream": True}, headers=sc.auth_for(path)
            )
            assert r.status_code == 200, r.text
            decision = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
    return r.content, decision


def _ending(path: str, raw: bytes) -> str:
    """What the client's stream ended with, in its protocol's words."""
    events = sse(raw)
    last_name, last_data = events[-1]
    if path == "/v1/chat/completions":
        return "done" if last_data == b"[DONE]" else "error"
    kinds = {"message_stop": "done", "response.completed": "done"}
    return kinds.get(str(last_name), "error")


@pytest.mark.parametrize("path", list(REQUESTS))
def test_a_stream_with_no_finish_reason_fails_alike_on_every_surface(
    tmp_path: Path, path: str
) -> None:
    raw, decision = asyncio.run(_ask(tmp_path, path, None))
    assert _ending(path, raw) == "error", raw[-400:]
    assert decision["status"] == "failed", decision
    assert b"end_turn" not in raw and b'"completed"' not in raw[-2000:], raw[-400:]


@pytest.mark.parametrize("path", list(REQUESTS))
def test_the_same_stream_with_its_finish_reason_is_an_answer(tmp_path: Path, path: str) -> None:
    """The control: with `finish_reason: stop` every surface ends properly."""
    raw, decision = asyncio.run(_ask(tmp_path, path, "stop"))
    assert _ending(path, raw) == "done", raw[-400:]
    assert decision["status"] == "ok", decision
