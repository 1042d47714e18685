"""Outside probe (sixteenth session): usage that is missing or lies in one count only.

A count that is no count (negative, a string, past 10^8) was read as 0 and the others kept, so a
call was priced on what was left: an answer whose `completion_tokens` / `output_tokens` lied cost
its prompt alone (3 input tokens: $0.000003 where the call's worst case is $0.0002 and more). An
Anthropic-protocol stream whose `message_delta` carried no usage (or that had none before its
`message_stop`) was priced at `message_start`'s counts, whose `output_tokens: 1` is a placeholder:
input plus one output token for an answer of any length, while the same OpenAI stream without usage
is charged its worst case. One lying count now makes the whole usage not reported, and an
Anthropic stream with no final count is priced as any call without usage: its worst case
(money21: a stream that ended whole, message_delta's stop reason and message_stop, has its
missing output counted from what it relayed, as a whole Message's; one without is its worst case).
money20: an answer whose counts lie is priced from what it relayed (its prompt and its output
counted, dropped_usage.py), no longer its worst case; still never on its prompt alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import (
    raw_anthropic_upstream,
    raw_openai_upstream,
    recorded_decision,
    sidecar_in_process,
)

pytestmark = pytest.mark.timeout(90)

MAX_TOKENS = 100
WORST_OUTPUT_USD = MAX_TOKENS * 2.0 / 1e6  # every model here: $2 per million output tokens
# a lying count's answer: the prompt and at least "Hello there."'s 2 output tokens (counted)
COUNTED_AT_LEAST_USD = (3 * 1.0 + 2 * 2.0) / 1e6
USER = [{"role": "user", "content": "Hi"}]


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def anthropic_stream(final_usage: dict[str, Any] | None, *, delta: bool = True) -> bytes:
    """Thinking, text, then the end: `final_usage` on message_delta (none: no usage key), no
    message_delta at all without `delta`."""
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }  # fmt: skip
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hello there, a long answer. " * 8}},
        {"type": "content_block_stop", "index": 0},
    ]  # fmt: skip
    if delta:
        end: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
        if final_usage is not None:
            end["usage"] = final_usage
        events.append(end)
    events.append({"type": "message_stop"})
    return b"".join(_event(e) for e in events)


def anthropic_answer(usage: dict[str, Any]) -> bytes:
    return orjson.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "Hello there."}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": usage,
    })  # fmt: skip


def openai_answer(usage: dict[str, Any], stream: bool) -> bytes:
    base = {"id": "c1", "created": 1, "model": "m"}
    if not stream:
        message = {"role": "assistant", "content": "Hello there."}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return orjson.dumps({**base, "object": "chat.completion", "choices": [choice],
                             "usage": usage})  # fmt: skip
    chunk = {**base, "object": "chat.completion.chunk"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": usage},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


async def _charged(
    tmp_path: Path, edit: Callable[[int], Callable[[str], str]], media: bytes, body: bytes,
    path: str, request: dict[str, Any],
) -> float:  # fmt: skip
    """The decision's recorded cost of one request answered with `body`."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: " + media, body))

    async with scripted_upstream(answer) as (port, _):
        config = edit(port)
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: fast_failover(config(t))
        ) as sc:
            r = await sc.client.post(path, json=request, headers=sc.auth_for(path))
            assert r.status_code == 200, r.text
            decision = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
    return float(decision["cost_usd"])


LYING_OUTPUT = {"negative": -5, "a string": "5", "past 10^8": 200_000_000, "a float": 5.5}
SURFACES = {
    "messages": ("/v1/messages", {}),
    "chat": ("/v1/chat/completions", {"stream_options": {"include_usage": True}}),
}


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("case", ["no usage on message_delta", "no message_delta"])
def test_an_anthropic_stream_without_its_final_count_is_charged_its_worst_case(
    tmp_path: Path, case: str, surface: str
) -> None:
    path, extra = SURFACES[surface]
    body = anthropic_stream(None, delta=case == "no usage on message_delta")
    request = {"model": "an-raw", "messages": USER, "max_tokens": MAX_TOKENS, "stream": True}
    cost = asyncio.run(
        _charged(tmp_path, raw_anthropic_upstream, b"text/event-stream", body, path,
                 {**request, **extra})
    )  # fmt: skip
    # message_start's `output_tokens: 1` priced as the bill was $0.000005
    if case == "no message_delta":  # no stop reason: not a whole answer, its worst case
        assert cost >= WORST_OUTPUT_USD, cost
    else:  # money21: ended whole (message_stop): its output counted from the relayed text
        # (~56 tokens of it), its input as message_start gave it, never the placeholder's 1
        assert (3 * 1.0 + 50 * 2.0) / 1e6 <= cost < WORST_OUTPUT_USD, cost


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("lie", list(LYING_OUTPUT))
def test_an_anthropic_answer_whose_output_count_lies_is_not_priced_on_its_input(
    tmp_path: Path, lie: str, stream: bool
) -> None:
    usage = {"input_tokens": 3, "output_tokens": LYING_OUTPUT[lie]}
    media = b"text/event-stream" if stream else b"application/json"
    body = anthropic_stream(usage) if stream else anthropic_answer(usage)
    request = {"model": "an-raw", "messages": USER, "max_tokens": MAX_TOKENS, "stream": stream}
    cost = asyncio.run(
        _charged(tmp_path, raw_anthropic_upstream, media, body, "/v1/messages", request)
    )
    # was $0.000003 (the 3 input tokens alone), then the worst case: now what it relayed
    assert COUNTED_AT_LEAST_USD <= cost < WORST_OUTPUT_USD, cost


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("lie", list(LYING_OUTPUT))
def test_an_openai_answer_whose_completion_count_lies_is_not_priced_on_its_prompt(
    tmp_path: Path, lie: str, stream: bool
) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": LYING_OUTPUT[lie]}
    media = b"text/event-stream" if stream else b"application/json"
    request: dict[str, Any] = {
        "model": "oa-raw", "messages": USER, "max_tokens": MAX_TOKENS, "stream": stream,
    }  # fmt: skip
    if stream:
        request["stream_options"] = {"include_usage": True}
    cost = asyncio.run(
        _charged(tmp_path, raw_openai_upstream, media, openai_answer(usage, stream),
                 "/v1/chat/completions", request)
    )  # fmt: skip
    assert COUNTED_AT_LEAST_USD <= cost < WORST_OUTPUT_USD, cost  # what it relayed


def test_a_truthful_usage_is_still_the_bill(tmp_path: Path) -> None:
    """The control: sane counts are priced as they came. (An output of 0 beside the answer's
    text is no count since probe23b, counted from the text: tests/test_probe23b_zero_counts.py.)"""
    usage = {"input_tokens": 3, "output_tokens": 40}
    request = {"model": "an-raw", "messages": USER, "max_tokens": MAX_TOKENS, "stream": True}
    cost = asyncio.run(
        _charged(tmp_path, raw_anthropic_upstream, b"text/event-stream", anthropic_stream(usage),
                 "/v1/messages", request)
    )  # fmt: skip
    assert cost == pytest.approx((3 * 1.0 + 40 * 2.0) / 1e6)
    usage = {"prompt_tokens": 3, "completion_tokens": 7}
    request = {"model": "oa-raw", "messages": USER, "max_tokens": MAX_TOKENS}
    cost = asyncio.run(
        _charged(tmp_path, raw_openai_upstream, b"application/json", openai_answer(usage, False),
                 "/v1/chat/completions", request)
    )  # fmt: skip
    assert cost == pytest.approx((3 * 1.0 + 7 * 2.0) / 1e6)
