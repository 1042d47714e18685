"""An Anthropic-protocol stream translated for an OpenAI client whose counts are missing.

A compatible server (or a gateway) may end its stream with a `message_delta` that carries no
usage, an empty one, or `output_tokens: null`, or open it with a `message_start` without
`input_tokens`. The OpenAI client that asked for usage (`stream_options.include_usage`) read
`completion_tokens: 0` (and `prompt_tokens: 0` without a start count): it metered the answer as
free. It now reads Arbiter's own counts there (the prompt as the sidecar counts it, the answer
estimated from its text), as a same-protocol client already did (relayed_usage.py). The bill:
an empty `usage` or a null `output_tokens` was merged with message_start's placeholder
(`output_tokens: 1`) and priced the answer as one token, and a delta's output count without any
input count priced the answer without its prompt; both are now a call without usage (its worst
case, as a delta with no usage already was). money21: the stream ended whole (message_stop), so
the side it left out is counted from what it relayed, as a whole Message's is (dropped_usage.py).
Counts the upstream gave are still shown and billed as they came (the control). The official
openai SDK is the client.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.types import estimate_tokens
from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_anthropic_upstream, recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

MAX_TOKENS = 100
WORST_OUTPUT_USD = MAX_TOKENS * 2.0 / 1e6  # an-raw: $1 in, $2 out per million tokens
TEXT = "Hello there, a long answer. " * 8
START_USAGE = {"input_tokens": 3, "output_tokens": 1}  # Anthropic's output count: a placeholder
MISSING = "no usage key"

# case: (message_start's usage, message_delta's usage; the counts the upstream gave)
CASES: dict[str, tuple[dict[str, Any] | None, Any]] = {
    "no usage on message_delta": (START_USAGE, MISSING),
    "an empty usage on message_delta": (START_USAGE, {}),
    "a null output count": (START_USAGE, {"output_tokens": None}),
    "no usage on message_start": (None, {"output_tokens": 57}),
    "counted by the upstream (control)": (START_USAGE, {"output_tokens": 57}),
}


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream(start_usage: dict[str, Any] | None, delta_usage: Any) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [], "stop_reason": None, "stop_sequence": None,
    }  # fmt: skip
    if start_usage is not None:
        message["usage"] = start_usage
    end: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    if delta_usage != MISSING:
        end["usage"] = delta_usage
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": TEXT}},
        {"type": "content_block_stop", "index": 0},
        end,
        {"type": "message_stop"},
    ]  # fmt: skip
    return b"".join(_event(e) for e in events)


def test_an_openai_client_reads_arbiters_counts_and_the_bill_prices_the_call(
    tmp_path: Path,
) -> None:
    bodies = [_stream(*CASES[case]) for case in CASES]
    served = [0]

    async def answer(writer: asyncio.StreamWriter) -> None:
        body = bodies[served[0]]
        served[0] += 1
        writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            config = raw_anthropic_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(config(t))) as sc,
                sdks(sc) as (_, gpt),
            ):
                for case, (start, delta) in CASES.items():
                    raw = await gpt.chat.completions.with_raw_response.create(
                        model="an-raw", max_tokens=MAX_TOKENS, stream=True,
                        messages=[{"role": "user", "content": "Hi"}],
                        stream_options={"include_usage": True},
                    )  # fmt: skip
                    text, usage = "", None
                    async for chunk in raw.parse():
                        text += "".join(c.delta.content or "" for c in chunk.choices)
                        usage = chunk.usage or usage
                    assert text == TEXT, case
                    assert usage is not None, f"{case}: include_usage asked, no usage chunk"
                    decision = await recorded_decision(sc, raw.headers["x-arbiter-decision-id"])
                    prompt_counted = start is not None
                    output_counted = isinstance(delta, dict) and delta.get("output_tokens")
                    # the prompt: the upstream's count, else the sidecar's (the decision's)
                    want_prompt = 3 if prompt_counted else decision["prompt_tokens"]
                    assert want_prompt > 0, decision
                    want_output = 57 if output_counted else estimate_tokens(TEXT)
                    assert (usage.prompt_tokens, usage.completion_tokens) == (
                        want_prompt,
                        want_output,
                    ), (case, usage)
                    assert usage.total_tokens == want_prompt + want_output, (case, usage)
                    cost = float(decision["cost_usd"])
                    if prompt_counted and output_counted:  # the control: billed as it came
                        assert cost == pytest.approx((3 * 1.0 + 57 * 2.0) / 1e6), (case, cost)
                    else:  # money21: a whole stream's missing side counted from what it
                        # relayed (dropped_usage.py), never the placeholder's 1, never its worst
                        billed_in, billed_out = (
                            decision["prompt_tokens"],
                            decision["completion_tokens"],
                        )
                        assert billed_out >= estimate_tokens(TEXT), (case, decision)
                        if prompt_counted:
                            assert billed_in == 3, (case, decision)
                        assert cost == pytest.approx((billed_in * 1.0 + billed_out * 2.0) / 1e6)
                        assert cost < WORST_OUTPUT_USD, (case, cost)

    asyncio.run(main())


def test_a_responses_client_reads_arbiters_counts_too(tmp_path: Path) -> None:
    """/v1/responses always shows usage: its `response.completed` read 0 output tokens."""
    body = _stream(None, MISSING)
    served = [0]

    async def answer(writer: asyncio.StreamWriter) -> None:
        served[0] += 1
        writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            config = raw_anthropic_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(config(t))) as sc,
                sdks(sc) as (_, gpt),
            ):
                stream = await gpt.responses.create(
                    model="an-raw", input="Hi", max_output_tokens=MAX_TOKENS, stream=True
                )
                done = [e async for e in stream if e.type == "response.completed"]
                assert len(done) == 1, done
                usage = done[0].response.usage
                assert usage is not None
                assert usage.output_tokens == estimate_tokens(TEXT), usage
                assert usage.input_tokens > 0, usage

    asyncio.run(main())
