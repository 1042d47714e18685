"""An Anthropic model that thinks, to a Responses client (mends18a, from the sixteenth session's
notes). The streamed Response showed the thinking as a `reasoning` item (surfaces17); the
non-streamed one left it out, and neither passed on the thinking block's `signature`, so a tool
loop with thinking could not continue: Anthropic refuses the next turn unless the turn's
thinking comes back with its signature, and a reasoning item sent back was ignored. Now:
- a non-streamed Response holds the reasoning item where the thinking came (before the text
  and the call), as the stream does;
- with `include: ["reasoning.encrypted_content"]` the item's `encrypted_content` carries the
  signature (a redacted_thinking block's data too), streamed or not; without it there is none;
- a reasoning item sent back in `input` with that `encrypted_content` is the thinking block it
  was, with its signature, in the assistant turn sent to the Anthropic model: the second turn
  of a tool loop round-trips. An OpenAI model's encrypted reasoning stays ignored.
Clients are the official openai SDK; the upstream a scripted socket that records each body."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import keep_alive_upstream
from tests.adversarial.test_probe16b_usage_lies import raw_anthropic_upstream
from tests.inproc import sidecar_in_process
from tests.openapi_spec import validate
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

THOUGHT = "The user wants Paris's weather: call the tool."
SIGNATURE = "EqQBCkYIBxgCKkDsig=="
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOL: Any = {"type": "function", "name": "get_weather", "parameters": CITY}
MESSAGE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "an-raw",
    "content": [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 30},
}  # fmt: skip
FINAL = {**MESSAGE, "id": "msg_2", "content": [{"type": "text", "text": "Sunny."}],
         "stop_reason": "end_turn"}  # fmt: skip


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream(message: dict[str, Any]) -> bytes:
    """The message as Anthropic streams it (thinking, then its signature_delta)."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}
    ]
    for i, block in enumerate(message["content"]):
        if block["type"] == "thinking":
            events += [
                {"type": "content_block_start", "index": i,
                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                {"type": "content_block_delta", "index": i,
                 "delta": {"type": "thinking_delta", "thinking": block["thinking"]}},
                {"type": "content_block_delta", "index": i,
                 "delta": {"type": "signature_delta", "signature": block["signature"]}},
            ]  # fmt: skip
        elif block["type"] == "tool_use":
            events += [
                {"type": "content_block_start", "index": i,
                 "content_block": {**block, "input": {}}},
                {"type": "content_block_delta", "index": i, "delta": {
                    "type": "input_json_delta",
                    "partial_json": orjson.dumps(block["input"]).decode()}},
            ]  # fmt: skip
        else:
            events.append({"type": "content_block_start", "index": i, "content_block": block})
        events.append({"type": "content_block_stop", "index": i})
    events += [
        {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]},
         "usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return b"".join(map(_event, events))


async def _run(tmp_path: Path, *, stream: bool) -> tuple[list[Any], list[dict[str, Any]]]:
    """Turn 1 (thinks, calls the tool), then turn 2 with the whole output sent back and the
    tool's result; the Responses of both, and the bodies the upstream got."""
    bodies: list[dict[str, Any]] = []

    async def answer(writer: asyncio.StreamWriter, raw: bytes) -> None:
        bodies.append(orjson.loads(raw))
        message = MESSAGE if len(bodies) == 1 else FINAL
        if stream:
            body, kind = _stream(message), b"text/event-stream"
        else:
            body, kind = orjson.dumps(message), b"application/json"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: " + kind +
                     b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body)  # fmt: skip

    async with keep_alive_upstream(answer) as (port, _):
        edit = raw_anthropic_upstream(port)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            ask: Any = [{"role": "user", "content": "Weather in Paris?"}]
            kw: Any = {"model": "an-raw", "tools": [TOOL],
                       "include": ["reasoning.encrypted_content"]}  # fmt: skip
            responses = []
            for turn in (1, 2):
                if stream:
                    events = [
                        e async for e in await gpt.responses.create(input=ask, stream=True, **kw)
                    ]
                    assert events[-1].type == "response.completed", [e.type for e in events]
                    response = events[-1].response
                else:
                    response = await gpt.responses.create(input=ask, **kw)
                validate("Response", response.model_dump(mode="json", exclude_unset=True))
                responses.append(response)
                if turn == 1:  # the SDK's own output items sent back, and the tool's result
                    (call,) = [o for o in response.output if o.type == "function_call"]
                    ask = [*ask, *[o.model_dump(exclude_none=True) for o in response.output],
                           {"type": "function_call_output", "call_id": call.call_id,
                            "output": "sunny"}]  # fmt: skip
    return responses, bodies


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_loop_with_thinking_round_trips(tmp_path: Path, stream: bool) -> None:
    (first, second), bodies = asyncio.run(_run(tmp_path, stream=stream))
    kinds = [o.type for o in first.output]
    assert kinds == ["reasoning", "reasoning", "message", "function_call"], kinds
    thought, redacted = first.output[0], first.output[1]
    assert [c.text for c in thought.content or []] == [THOUGHT]  # type: ignore[union-attr]
    assert thought.encrypted_content and SIGNATURE in thought.encrypted_content  # type: ignore[union-attr]
    assert redacted.encrypted_content  # type: ignore[union-attr]
    assert first.output_text == "Checking."  # the thinking is never the answer's text
    assert second.output_text == "Sunny."
    # the second turn's assistant message: the thinking blocks as they came, then the call
    assistant = bodies[1]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][:2] == [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
    ]
    assert [b["type"] for b in assistant["content"][2:]] == ["text", "tool_use"]
    assert bodies[1]["messages"][2]["content"][0]["type"] == "tool_result"


def test_without_the_include_there_is_no_encrypted_content() -> None:
    from arbiter.protocols.openai_responses import decode_request
    from arbiter.protocols.openai_responses_object import encode_response
    from arbiter.protocols.upstream_answer import decode_answer

    answer = decode_answer(MESSAGE, "anthropic", thinking=True)
    for include, carried in (([], False), (["reasoning.encrypted_content"], True)):
        _, echo = decode_request({"model": "m", "input": "hi", "include": include})
        body = encode_response(answer, "resp_1", "m", echo, 1)
        reasoning = body["output"][0]
        assert reasoning["type"] == "reasoning"
        assert ("encrypted_content" in reasoning) == carried
        validate("Response", body)


def test_an_openai_models_encrypted_reasoning_stays_ignored() -> None:
    """Only Arbiter's own carried thinking becomes a block: OpenAI's encrypted reasoning is
    state only OpenAI reads (and was ignored before)."""
    from arbiter.protocols.openai_responses import decode_request

    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB..."}
    request, _ = decode_request({"model": "m", "input": [
        {"role": "user", "content": "hi"}, item, {"role": "user", "content": "more"}]})  # fmt: skip
    assert [type(p).__name__ for m in request.messages for p in m.parts] == ["TextPart"] * 2


def test_the_carried_thinking_is_counted_for_routing_and_the_budget() -> None:
    """An Anthropic model reads the tool loop's thinking as input: the request's count says so
    (the Chat Completions view the budget counts has none of it: `unviewed_tokens`)."""
    from arbiter.surfaces.openai_responses import parse_responses_request

    long_thought = "step by step " * 400
    item = {"type": "reasoning", "summary": [], "encrypted_content": "anthropic.thinking:c2ln",
            "content": [{"type": "reasoning_text", "text": long_thought}]}  # fmt: skip
    call = {"type": "function_call", "call_id": "toolu_1", "name": "get_weather",
            "arguments": "{}"}  # fmt: skip
    result = {"type": "function_call_output", "call_id": "toolu_1", "output": "sunny"}
    ask = {"role": "user", "content": "Weather?"}
    plain = parse_responses_request(orjson.dumps({"model": "m", "input": [ask, call, result]}))
    carried = parse_responses_request(
        orjson.dumps({"model": "m", "input": [ask, item, call, result]})
    )
    assert carried.unviewed_tokens > 500 and plain.unviewed_tokens == 0
    assert carried.prompt_tokens == plain.prompt_tokens + carried.unviewed_tokens
