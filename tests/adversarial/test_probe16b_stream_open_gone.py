"""Outside probe (sixteenth session): a streaming client that leaves before its stream's first byte.

A non-streaming request's upstream call is cancelled the moment its client leaves
(disconnect.py); a stream's was not watched until its response began, i.e. until an upstream had
produced its first content. A client that gave up while the upstream was still silent (a
reasoning model thinking, a queue, a slow 5xx) kept the call running to its first content, and
failover went on for nobody: a 503 was retried and the retry relayed to a closed connection,
recorded as an `ok` answer, the judge sampled on it, each call billed. The opening of a stream
is now watched like a whole answer: the call is cancelled, nothing more is tried, the decision is
`client_disconnected` and the reservation is settled once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import scripted_upstream
from tests.adversarial.test_probe2_client_gone import post_scope
from tests.inproc import InProcess, raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(90)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 10.0\n'
RETRY_ONCE = (
    "\n[failover]\ntotal_timeout_s = 20.0\nfirst_byte_timeout_s = 10.0\n"
    "retries_per_model = 1\nbackoff_ms = 1\n"
)
SILENT_S = 1.5  # the first call's silence before its 503
LEAVES_AFTER_S = 0.2
USER = [{"role": "user", "content": "Hi"}]
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "oa-raw", "messages": USER, "max_tokens": 50},
    "/v1/messages": {"model": "oa-raw", "messages": USER, "max_tokens": 50},
    "/v1/responses": {"model": "oa-raw", "input": "Hi", "max_output_tokens": 50},
    "/v1/completions": {"model": "oa-raw", "prompt": "Hi", "max_tokens": 50},
}


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _good_stream(path: str) -> bytes:
    base = {"id": "c1", "created": 1, "model": "m"}
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    if path == "/v1/completions":
        text = {**base, "object": "text_completion"}
        return _sse(
            {**text, "choices": [{"index": 0, "text": "Hi", "finish_reason": None}]},
            {**text, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
            {**text, "choices": [], "usage": usage},
        )
    chunk = {**base, "object": "chat.completion.chunk"}
    return _sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": usage},
    )


async def _leave_before_first_byte(sc: InProcess, path: str) -> tuple[float, list[int]]:
    """Drive the app as uvicorn would for a streaming client that hangs up LEAVES_AFTER_S
    after its request: how long the app took, and the statuses it began answering with."""
    raw = orjson.dumps({**BODIES[path], "stream": True})
    scope = post_scope(sc, path, len(raw))
    asked = [False]
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        if not asked[0]:
            asked[0] = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(LEAVES_AFTER_S)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.monotonic()
    await asyncio.wait_for(sc.app(scope, receive, send), 20)
    return time.monotonic() - started, statuses


@pytest.mark.parametrize("path", list(BODIES))
def test_a_client_gone_before_the_first_byte_stops_its_stream_and_its_failover(
    tmp_path: Path, path: str
) -> None:
    calls_made = [0]

    async def answer(writer: asyncio.StreamWriter) -> None:
        calls_made[0] += 1
        if calls_made[0] == 1:  # silent, then busy: a retry would follow
            await asyncio.sleep(SILENT_S)
            body = b'{"error":{"message":"busy","type":"server_error"}}'
            head = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        else:
            body = _good_stream(path)
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: edit(t) + CAP + RETRY_ONCE
            ) as sc:
                took, statuses = await _leave_before_first_byte(sc, path)
                await asyncio.sleep(SILENT_S + 0.5)  # time for a retry, were one made
                assert calls_made[0] == 1, "failover went on for a client that had left"
                assert took < SILENT_S, took  # the silent call was not waited out
                assert statuses in ([], [499]), statuses  # nothing began to a client gone
                r = await sc.client.get("/arbiter/decisions?limit=5", headers=sc.admin)
                rows = [d for d in r.json()["data"] if d["mode"] != "judge"]
                assert [d["error"] for d in rows] == ["client_disconnected"], rows
                assert rows[0]["status"] == "failed"
                budgets = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()
                held = [b["reserved_usd"] for b in budgets["data"]]
                assert held == [0.0], budgets  # released once, nothing held for it
                spent = sum(b["spent_usd"] for b in budgets["data"])
                assert spent == pytest.approx(rows[0]["cost_usd"]), (spent, rows)

    asyncio.run(main())
