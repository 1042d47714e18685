"""Outside probe (thirteenth session): an upstream whose usage numbers are absurd.

A token count was any positive integer and a reported cost any non-negative float. So
`prompt_tokens: 18446744073709551615` (2^64 - 1) overflowed SQLite's INTEGER when the decision
was written: the record was dropped ("store refused a DecisionRecord record; dropped") though
the client had its 200. `completion_tokens: 9e18` made the request cost $1.8e13, and
`usage.cost: 1e308` (or a cost header of 1e308) cost $1e308: spend past any cap for good, and
inf in every sum after a second one. A count past 10^8 tokens or a cost past $10,000 for one call
now counts as not reported, and the call is priced as any call without usage is."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter.upstream.anthropic import parse_usage as anthropic_usage
from arbiter.upstream.http import reported_cost
from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, recorded_decision, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

U64 = 18446744073709551615


def _answer(usage: dict[str, Any]) -> bytes:
    message = {"role": "assistant", "content": "hi"}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    base = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m"}
    return orjson.dumps({**base, "choices": [choice], "usage": usage})


def _stream(usage: dict[str, Any]) -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


SANE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
CASES: dict[str, tuple[dict[str, Any], bytes]] = {
    "u64 prompt tokens": ({**SANE, "prompt_tokens": U64}, b""),
    "9e18 completion tokens": ({**SANE, "completion_tokens": 9 * 10**18}, b""),
    "cost 1e308": ({**SANE, "cost": 1e308}, b""),
    "cost header 1e308": (SANE, b"\r\nx-upstream-cost-usd: 1e308"),
    "negative tokens": ({"prompt_tokens": -(10**6), "completion_tokens": -5}, b""),
    "string tokens": ({"prompt_tokens": "12", "completion_tokens": "x"}, b""),
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("case", list(CASES))
def test_absurd_usage_never_becomes_spend(tmp_path: Path, case: str, stream: bool) -> None:
    usage, extra = CASES[case]
    media = b"text/event-stream" if stream else b"application/json"
    body = _stream(usage) if stream else _answer(usage)

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: " + media + extra, body))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(edit(t))
            ) as sc:
                chat = {
                    "model": "oa-raw", "stream": stream, "max_tokens": 100,
                    "messages": [{"role": "user", "content": "Hi"}],
                }  # fmt: skip
                r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
                assert r.status_code == 200, r.text
                decision_id = r.headers["x-arbiter-decision-id"]
                assert await asyncio.to_thread(sc.services.recorder.flush, 10.0)
                decision = await recorded_decision(sc, decision_id)
        cost = decision["cost_usd"]
        # the model's prices are $1 / $2 per million tokens: no call of this size costs a cent
        assert math.isfinite(cost) and 0 <= cost < 0.01, decision
        if not stream:
            assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(cost)
        assert 0 <= decision["prompt_tokens"] < 10**8
        assert 0 <= decision["completion_tokens"] < 10**8

    asyncio.run(main())


def test_anthropic_usage_takes_the_same_bounds() -> None:
    usage = anthropic_usage(
        {"input_tokens": U64, "output_tokens": 9 * 10**18, "cache_read_input_tokens": 7},
        reported_cost(None, httpx.Headers({"x-upstream-cost-usd": "1e308"})),
    )
    # no count of it is kept, not even the sane cache read: priced alone it would bill a part
    # of the call (test_probe16b_usage_lies)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens) == (0, 0, 0)
    assert usage.reported_cost_usd is None
