"""The Responses API codec without a server: tool calls from either upstream protocol become
function_call items, in a finished Response and in a stream (each event valid by OpenAI's
spec), and a stream that breaks ends with `error` + `response.failed`, never completed."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart, ToolCallPart
from arbiter.errors import UpstreamUnavailable
from arbiter.protocols import anthropic_stream, openai_stream
from arbiter.protocols.openai_responses import decode_request
from arbiter.protocols.openai_responses_object import Echo, encode_response
from arbiter.protocols.openai_responses_stream import StreamEncoder
from arbiter.relay_codec import Translating
from tests.openapi_spec import validate, validate_response_event
from tests.sdk_clients import sse

ECHO = Echo()


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for name, data in sse(raw):
        event = orjson.loads(data)
        assert event["type"] == name
        validate_response_event(event)
        assert event["sequence_number"] == len(out)
        out.append(event)
    return out


def openai_tool_stream() -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
        return orjson.dumps({
            "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more,
        })  # fmt: skip

    call = {"index": 0, "id": "call_9", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}  # fmt: skip
    return [
        chunk({"role": "assistant", "content": "Let me check."}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
        chunk({}, "tool_calls"),
        orjson.dumps({"id": "c1", "choices": [], "usage": {
            "prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}),
    ]  # fmt: skip


def anthropic_tool_stream() -> list[bytes]:
    def frame(kind: str, **data: Any) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data})

    return [
        frame("message_start", message={
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1}}),
        frame("content_block_start", index=0, content_block={
            "type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}),
        frame("content_block_delta", index=0, delta={
            "type": "input_json_delta", "partial_json": '{"city": "Paris"}'}),
        frame("content_block_stop", index=0),
        frame("message_delta", delta={"stop_reason": "tool_use", "stop_sequence": None},
              usage={"output_tokens": 7}),
        frame("message_stop"),
    ]  # fmt: skip


def run_stream(
    decoder: openai_stream.StreamDecoder | anthropic_stream.StreamDecoder, items: list[bytes]
) -> list[dict[str, Any]]:
    codec = Translating(decoder, StreamEncoder("resp_d1", "m", ECHO, 100))
    raw = b"".join(codec.feed(i) for i in items) + codec.end() + codec.terminal()
    return events(raw)


def test_a_tool_call_streams_as_a_function_call_item_from_either_protocol() -> None:
    for decoder, items, call_id in (
        (openai_stream.StreamDecoder("m"), openai_tool_stream(), "call_9"),
        (anthropic_stream.StreamDecoder("m"), anthropic_tool_stream(), "toolu_9"),
    ):
        out = run_stream(decoder, items)
        kinds = [e["type"] for e in out]
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert "response.function_call_arguments.delta" in kinds
        args_done = next(e for e in out if e["type"] == "response.function_call_arguments.done")
        assert orjson.loads(args_done["arguments"]) == {"city": "Paris"}
        final = out[-1]
        assert final["type"] == "response.completed", kinds
        calls = [o for o in final["response"]["output"] if o["type"] == "function_call"]
        assert calls[0]["call_id"] == call_id and calls[0]["name"] == "get_weather"
        assert orjson.loads(calls[0]["arguments"]) == {"city": "Paris"}
        assert final["response"]["usage"]["input_tokens"] == 12
        assert final["response"]["usage"]["output_tokens"] == 7
        validate("Response", final["response"])


def test_a_finished_answer_with_text_and_a_tool_call() -> None:
    resp = CanonicalResponse(
        "x", "m", (TextPart("Checking."), ToolCallPart("call_1", "get_weather", "{}")),
        "tool_use", CanonicalUsage(10, 3),
    )  # fmt: skip
    body = encode_response(resp, "resp_d2", "m", ECHO, 100)
    validate("Response", body)
    assert [o["type"] for o in body["output"]] == ["message", "function_call"]
    assert body["status"] == "completed" and body["usage"]["total_tokens"] == 13


def test_an_answer_cut_by_the_output_limit_is_incomplete() -> None:
    resp = CanonicalResponse("x", "m", (TextPart("Once upon"),), "max_tokens", CanonicalUsage())
    body = encode_response(resp, "resp_d3", "m", ECHO, 100)
    validate("Response", body)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_broken_stream_ends_with_error_then_failed() -> None:
    codec = Translating(openai_stream.StreamDecoder("m"), StreamEncoder("resp_d4", "m", ECHO, 1))
    raw = codec.feed(openai_tool_stream()[0])
    raw += codec.error(UpstreamUnavailable("upstream m returned HTTP 503 (server error)"))
    out = events(raw)
    assert [e["type"] for e in out][-2:] == ["error", "response.failed"]
    assert out[-1]["response"]["status"] == "failed"
    assert not any(e["type"] == "response.completed" for e in out)


def test_input_items_decode_to_turns() -> None:
    canonical, echo = decode_request({
        "model": "auto", "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        ],
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}}},
        "max_output_tokens": 50,
    })  # fmt: skip
    assert canonical.system == ("Be brief.", "Use metric units.")
    assert [m.role for m in canonical.messages] == ["user", "assistant", "user"]
    assert canonical.max_tokens == 50
    assert canonical.response_format is not None
    assert canonical.response_format.kind == "json_schema"
    assert echo.text_format["type"] == "json_schema"


def test_text_verbosity_becomes_chat_verbosity_and_is_echoed() -> None:
    """`text.verbosity` reaches an OpenAI upstream as Chat Completions' `verbosity` (never
    dropped); an Anthropic model cannot carry it, so it is not eligible for the request."""
    from arbiter.canonical import Message
    from arbiter.protocols import openai
    from arbiter.protocols.compat import untranslatable
    from arbiter.protocols.openai_responses_object import response_object

    req, echo = decode_request({"model": "auto", "input": "Hi.", "text": {"verbosity": "low"}})
    assert req.extras == {"verbosity": "low"} and echo.verbosity == "low"
    assert openai.encode_request(req, "gpt-5")["verbosity"] == "low"
    assert untranslatable(req, "anthropic") == "the 'verbosity' parameter"
    body = response_object("resp_1", 1, "m", echo, output=[], status="completed", completed_at=1)
    validate("Response", body)
    assert body["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    plain, _ = decode_request({"model": "auto", "input": "Hi.", "top_logprobs": 0})
    assert plain.extras == {} and plain.messages == (Message("user", (TextPart("Hi."),)),)
