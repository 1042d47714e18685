"""An answer whose usage counts are no counts (`completion_tokens: NaN`, `output_tokens: -5`) was
charged its worst case (every choice at the output limit) though the answer was there to count.
It is now priced from what it relayed (dropped_usage.py: the prompt as the decision counts it,
the output with the tokenizer), never above the worst case, with the operator's
`usage_dropped` alert; through the official SDKs against the sidecar, whole and streamed, both
protocols (the probe19a matrix's absurd cells check the same against the scripted bill)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.dropped_usage import answer_texts
from arbiter.upstream import anthropic as anthropic_upstream
from arbiter.upstream import openai as openai_upstream
from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import (
    raw_anthropic_upstream,
    raw_openai_upstream,
    recorded_decision,
    sidecar_in_process,
)
from tests.sdk_clients import sdks
from tests.waiting import until_async

pytestmark = pytest.mark.timeout(90)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 100.0\n'
TEXT = "The capital of France is Paris, a city on the Seine."
MAX_TOKENS = 4000  # the worst case: 4,000 output tokens at $2/Mtok, $0.008, ~400x the answer


def test_which_usages_are_dropped() -> None:
    nan = {"prompt_tokens": 5, "completion_tokens": float("nan")}  # lenient_json reads NaN
    assert openai_upstream.parse_usage({"usage": nan}, None).counts_dropped
    assert openai_upstream.parse_usage({"usage": {"prompt_tokens": -5}}, None).counts_dropped
    assert not openai_upstream.parse_usage({}, None).counts_dropped  # none sent: not dropped
    ok = openai_upstream.parse_usage({"usage": {"prompt_tokens": 5, "completion_tokens": 3}}, None)
    assert not ok.counts_dropped and ok.completion_tokens == 3
    assert anthropic_upstream.parse_usage(
        {"input_tokens": 3, "output_tokens": 10**13}
    ).counts_dropped
    assert not anthropic_upstream.parse_usage(None).counts_dropped


def test_answer_texts_reads_both_protocols() -> None:
    chat = {"choices": [
        {"message": {"content": "a",
                     "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}},
        {"message": {"content": None, "refusal": "no"}},
    ]}  # fmt: skip
    assert answer_texts(chat) == ["a", "f", "{}", "no"]
    message = {"content": [{"type": "text", "text": "b"}, {"type": "thinking", "thinking": "t"},
                           {"type": "tool_use", "name": "g", "input": {"q": 1}}]}  # fmt: skip
    assert answer_texts(message) == ["b", "t", "g", '{"q":1}']


def _openai_answer(stream: bool) -> bytes:
    usage = b'{"prompt_tokens": 12, "completion_tokens": NaN, "total_tokens": NaN}'
    if not stream:
        body = orjson.dumps({
            "id": "c1", "object": "chat.completion", "created": 1, "model": "oa-raw",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": TEXT}}],
            "usage": "USAGE",
        }).replace(b'"USAGE"', usage)  # fmt: skip
        return response(b"200 OK\r\ncontent-type: application/json", body)
    chunks = [
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": TEXT},
                      "finish_reason": None}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "oa-raw",
         "choices": [], "usage": "USAGE"},
    ]  # fmt: skip
    events = b"".join(
        b"data: " + orjson.dumps(c).replace(b'"USAGE"', usage) + b"\n\n" for c in chunks
    )
    return response(b"200 OK\r\ncontent-type: text/event-stream", events + b"data: [DONE]\n\n")


def _anthropic_answer(stream: bool) -> bytes:
    if not stream:
        body = orjson.dumps({
            "id": "m1", "type": "message", "role": "assistant", "model": "an-raw",
            "content": [{"type": "text", "text": TEXT}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": -5},
        })  # fmt: skip
        return response(b"200 OK\r\ncontent-type: application/json", body)

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    start = {"id": "m1", "type": "message", "role": "assistant", "model": "an-raw",
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": 12, "output_tokens": 1}}  # fmt: skip
    events = b"".join([
        ev("message_start", {"type": "message_start", "message": start}),
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}}),
        ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": TEXT}}),
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev("message_delta", {"type": "message_delta",
                             "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": 10**13}}),
        ev("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip
    return response(b"200 OK\r\ncontent-type: text/event-stream", events)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_an_answer_with_counts_that_are_no_counts_is_priced_from_what_it_relayed(
    tmp_path: Path, protocol: str, stream: bool
) -> None:
    answer = _openai_answer(stream) if protocol == "openai" else _anthropic_answer(stream)

    async def serve(writer: asyncio.StreamWriter) -> None:
        writer.write(answer)

    async def main() -> None:
        async with scripted_upstream(serve) as (port, calls):
            edit = (
                raw_openai_upstream(port) if protocol == "openai" else raw_anthropic_upstream(port)
            )
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + CAP) as sc,
                sdks(sc) as (claude, gpt),
            ):  # fmt: skip
                messages = [{"role": "user", "content": "What is the capital of France?"}]
                if protocol == "openai":
                    raw: Any = await gpt.chat.completions.with_raw_response.create(
                        model="oa-raw", messages=messages, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
                        stream=stream,
                    )  # fmt: skip
                else:
                    raw = await claude.messages.with_raw_response.create(
                        model="an-raw", messages=messages, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
                        stream=stream,
                    )  # fmt: skip
                parsed = raw.parse()
                if asyncio.iscoroutine(parsed):  # the anthropic SDK's parse() is awaited
                    parsed = await parsed
                if stream:
                    async for _ in parsed:
                        pass
                assert calls[0] == 1
                row = await recorded_decision(sc, raw.headers["x-arbiter-decision-id"])
                alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()

                async def books() -> tuple[float, float]:
                    """The caps' spend, and what every decision recorded added to it: a
                    sampled grading judge's call (its own decision) may land beside this one."""
                    r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
                    feed = await sc.client.get("/arbiter/decisions?limit=50", headers=sc.admin)
                    spent = sum(b["spent_usd"] for b in r.json()["data"])
                    return float(spent), float(sum(d["billed_usd"] for d in feed.json()["data"]))

                seen: list[tuple[float, float]] = []

                async def balanced() -> bool:
                    seen.append(await books())
                    return abs(seen[-1][0] - seen[-1][1]) <= 1e-9

                # bounded: a spend that never matches what was recorded still fails. The books
                # are the ones that balanced: read again, a judge's call landing in between
                # (settled, its decision not yet written) unbalanced them (the load flake)
                await until_async(balanced, "the spend to equal the decisions' billed sum", 10.0)
                spent, billed = seen[-1]
        # ~12 prompt tokens and TEXT's ~13 output tokens at $1 / $2 per Mtok
        prompt, output = row["prompt_tokens"], row["completion_tokens"]
        assert 5 <= prompt <= 30 and 10 <= output <= 20, row
        assert row["cost_usd"] == pytest.approx((prompt * 1.0 + output * 2.0) / 1e6, rel=1e-6), row
        assert row["cost_usd"] < 1e-4 < 2.0 * MAX_TOKENS / 1e6, row  # far under the worst case
        assert spent == pytest.approx(billed, abs=1e-9), (spent, billed, row)
        # this answer's own cost is on the books (the rest, if any, a sampled judge's call)
        assert spent >= row["cost_usd"] - 1e-12, (spent, row)
        assert "usage_dropped" in [a["kind"] for a in alerts["data"]], alerts

    asyncio.run(main())
