"""What an OpenAI-protocol stream sends while a tool call streams (mends18a, from the sixteenth
session's notes). Text that arrives between a call's fragments is held until the call's block
ends (mends17a), so a stream cut before the call ended lost it: the client's error event came
with the text never shown, though the upstream had sent it (and the record missed it). Now a
cut sends what was held first: the call's block ends (the Responses API shows that item
`incomplete`), the held text follows as its own block, then the error event.

A refusal arriving inside a call closed the call's block, as text did before mends17a: the rest
of its arguments came after the block's stop (an Anthropic client got deltas after
content_block_stop; the Responses API dropped them). The right shape in each protocol is the
call whole, then the refusal: Anthropic has no refusal block, so a text block after the call;
the Responses API a message item with a `refusal` part after the function_call item, the
response completed (a refusal cuts nothing). Clients are the official SDKs (and the raw frames,
each validated by the anthropic SDK's event types)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import scripted_upstream
from tests.adversarial.test_mends17a_text_inside_a_call import TOOL, _chunk
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import anthropic_events, sdks

pytestmark = pytest.mark.timeout(90)

CALL = {"index": 0, "id": "call_a", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":'}}  # fmt: skip
HELD = "Checking the weather."
CUT = [_chunk({"tool_calls": [CALL]}), _chunk({"content": HELD})]  # then the connection drops
REFUSED = [
    _chunk({"tool_calls": [CALL]}),
    _chunk({"refusal": "I can't share that."}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    _chunk({}, "stop"),
]
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]
ANTHROPIC_TOOLS: Any = [{"name": "get_weather", "input_schema": {"type": "object"}}]


def _serving(chunks: list[dict[str, Any]], *, cut: bool) -> Callable[..., Awaitable[None]]:
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)

    async def answer(writer: asyncio.StreamWriter) -> None:
        if not cut:
            body_done = body + b"data: [DONE]\n\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"content-length: %d\r\n\r\n" % len(body_done) + body_done
            )
            return
        # chunked, and the connection closes before the last chunk: a cut stream
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body))

    return answer


def test_text_held_in_a_call_reaches_the_client_before_a_cut_streams_error(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with (
            scripted_upstream(_serving(CUT, cut=True)) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
            sdks(sc) as (_, gpt),
        ):
            ask = {"model": "oa-raw", "max_tokens": 100, "stream": True, "messages": ASK,
                   "tools": ANTHROPIC_TOOLS}  # fmt: skip
            r = await sc.client.post("/v1/messages", json=ask, headers=sc.anthropic)
            events = anthropic_events(r.content)
            kinds = [e["type"] for e in events]
            assert kinds[-1] == "error", kinds
            text = "".join(
                e["delta"]["text"] for e in events
                if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
            )  # fmt: skip
            assert text == HELD, kinds
            stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
            starts = [e["index"] for e in events if e["type"] == "content_block_start"]
            assert stops == starts == [0, 1]  # the call's block ended, then the text's

            streamed = await gpt.responses.create(
                model="oa-raw", input="Weather in Paris?", tools=[TOOL], stream=True,  # type: ignore[list-item]
            )  # fmt: skip
            events_r = [event async for event in streamed]
            assert events_r[-1].type == "response.failed", [e.type for e in events_r]
            shown = "".join(e.delta for e in events_r if e.type == "response.output_text.delta")
            assert shown == HELD
            call, message = events_r[-1].response.output
            assert call.type == "function_call" and call.status == "incomplete"
            assert message.type == "message" and message.status == "incomplete"
            assert message.content[0].text == HELD  # type: ignore[union-attr]

    asyncio.run(main())


def test_a_refusal_inside_a_call_leaves_the_call_whole(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            scripted_upstream(_serving(REFUSED, cut=False)) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
            sdks(sc) as (claude, gpt),
        ):
            ask = {"model": "oa-raw", "max_tokens": 100, "stream": True, "messages": ASK,
                   "tools": ANTHROPIC_TOOLS}  # fmt: skip
            r = await sc.client.post("/v1/messages", json=ask, headers=sc.anthropic)
            stopped: set[int] = set()
            for event in anthropic_events(r.content):
                if event["type"] == "content_block_delta":
                    assert event["index"] not in stopped, "a delta after its block stopped"
                elif event["type"] == "content_block_stop":
                    stopped.add(event["index"])
            async with claude.messages.stream(
                model="oa-raw", max_tokens=100, messages=ASK, tools=ANTHROPIC_TOOLS
            ) as stream:
                message = await stream.get_final_message()
            assert [b.type for b in message.content] == ["tool_use", "text"]
            assert message.content[0].input == {"city": "Paris"}  # type: ignore[union-attr]
            assert message.content[1].text == "I can't share that."  # type: ignore[union-attr]

            streamed = await gpt.responses.create(
                model="oa-raw", input="Weather in Paris?", tools=[TOOL], stream=True,  # type: ignore[list-item]
            )  # fmt: skip
            final = [e async for e in streamed][-1]
            assert final.type == "response.completed", final.type
            call, refusal = final.response.output
            assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
            assert refusal.type == "message"
            assert [p.type for p in refusal.content] == ["refusal"]

    asyncio.run(main())
