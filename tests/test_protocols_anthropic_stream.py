"""Anthropic streaming: OpenAI upstream chunks translated into Anthropic's event sequence, each
event validated with the `anthropic` SDK's types, and the SDK's own accumulator
(messages.stream().get_final_message()) rebuilding the message from the encoder's bytes."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import orjson
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared.error_response import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter import errors as e
from arbiter.canonical import StreamError
from arbiter.protocols import anthropic as codec
from arbiter.protocols import openai as oai
from tests import anthropic_mock

EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


# -- streams -----------------------------------------------------------------------------------


def openai_chunks(text: list[str], tool_args: list[str]) -> list[bytes]:
    """What an OpenAI upstream streams: a role chunk, text, a tool call in fragments, finish,
    usage."""
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return orjson.dumps(
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        )

    out = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": t}) for t in text]
    if tool_args:
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_7",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                }
            )
        )
        out += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in tool_args
        ]
    out.append(chunk({}, "tool_calls" if tool_args else "stop"))
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "total_tokens": 42,
        "prompt_tokens_details": {"cached_tokens": 10},
    }
    out.append(orjson.dumps({**base, "choices": [], "usage": usage}))
    return out


def translate_openai_stream(chunks: list[bytes]) -> bytes:
    decoder, encoder = oai.StreamDecoder(), codec.StreamEncoder("auto")
    events = [ev for c in [*chunks, b"[DONE]"] for ev in decoder.feed(c)]
    assert decoder.done
    return b"".join(encoder.encode(ev) for ev in events)


def check_event(name: str, data: dict[str, Any]) -> None:
    """One event against the SDK's types (its stream union leaves out ping and error)."""
    if name == "ping":
        assert data == {"type": "ping"}
    elif name == "error":
        ErrorResponse.model_validate(data)
    else:
        assert EVENT.validate_python(data).type == name


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in raw.split(b"\n\n"):
        if frame:
            name, data = frame.split(b"\n")
            assert name.startswith(b"event: ") and data.startswith(b"data: ")
            out.append((name[7:].decode(), orjson.loads(data[6:])))
    return out


def test_openai_stream_becomes_a_valid_anthropic_event_sequence() -> None:
    raw = translate_openai_stream(openai_chunks(["Hel", "lo"], ['{"ci', 'ty": "Pa', 'ris"}']))
    events = parse_sse(raw)
    for name, data in events:
        check_event(name, data)
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",  # the tool's arguments, held to its block's end: one delta
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert orjson.loads(events[7][1]["delta"]["partial_json"]) == {"city": "Paris"}
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"] == {
        "input_tokens": 20,
        "output_tokens": 12,
        "cache_read_input_tokens": 10,
        "cache_creation_input_tokens": 0,
    }


def test_the_anthropic_sdk_accumulates_the_translated_stream() -> None:
    raw = translate_openai_stream(openai_chunks(["Hel", "lo"], ['{"ci', 'ty": "Pa', 'ris"}']))
    with anthropic_mock.running() as mock:
        mock.replay_body = raw
        client = anthropic.Anthropic(base_url=mock.base_url, api_key="k", max_retries=0)
        with client.messages.stream(
            model="replay", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_message()
        client.close()
    assert final.content[0].type == "text" and final.content[0].text == "Hello"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}
    # an OpenAI model's call id ("call_7") is given a fresh one of Anthropic's shape
    assert final.content[1].id.startswith("toolu_") and final.stop_reason == "tool_use"
    assert final.usage.input_tokens == 20 and final.usage.output_tokens == 12


def test_a_failure_mid_stream_is_one_terminal_error_the_sdk_raises() -> None:
    decoder, encoder = oai.StreamDecoder(), codec.StreamEncoder("auto")
    head = [ev for c in openai_chunks(["Hel"], [])[:2] for ev in decoder.feed(c)]
    raw = b"".join(encoder.encode(ev) for ev in head) + encoder.encode(
        StreamError(e.UpstreamUnavailable("gone"))
    )
    assert parse_sse(raw)[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "gone"},
    }
    with anthropic_mock.running() as mock:
        mock.replay_body = raw
        client = anthropic.Anthropic(base_url=mock.base_url, api_key="k", max_retries=0)
        with (
            pytest.raises(anthropic.APIStatusError),
            client.messages.stream(
                model="replay", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            stream.get_final_message()
        client.close()


def test_anthropic_stream_decodes_and_re_encodes_to_the_same_events() -> None:
    frames = anthropic_mock.stream_frames("claude-x", "tool")
    decoder, encoder = codec.StreamDecoder(), codec.StreamEncoder("claude-x")
    raw = b"".join(encoder.encode(ev) for f in frames for ev in decoder.feed(f))
    original = [(n, d) for n, d in parse_sse(b"".join(frames))]
    again = parse_sse(raw)
    # message_start's usage is re-rendered whole (output 1 -> as sent); the tool's argument
    # fragments come as one delta at its block's end (StreamEncoder); the rest is identical
    tool_deltas = [d for _, d in original if d.get("delta", {}).get("type") == "input_json_delta"]
    assert len(tool_deltas) > 1
    merged = "".join(d["delta"]["partial_json"] for d in tool_deltas)
    original = [(n, d) for n, d in original if d not in tool_deltas]
    stop = original.index(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    original.insert(stop, ("content_block_delta", {**tool_deltas[0], "delta": {
        "type": "input_json_delta", "partial_json": orjson.dumps(orjson.loads(merged)).decode()
    }}))  # fmt: skip
    assert [n for n, _ in again] == [n for n, _ in original]
    assert again[2:-2] == original[2:-2]
    assert again[-2][1]["usage"]["cache_read_input_tokens"] == 100


def test_stream_decoder_skips_thinking_blocks_and_renumbers() -> None:
    thinking = [
        anthropic_mock.frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        anthropic_mock.frame(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        anthropic_mock.frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    frames = anthropic_mock.stream_frames("m", "text")
    shifted = [f.replace(b'"index": 0', b'"index": 1') for f in frames[2:-2]]
    decoder = codec.StreamDecoder()
    events = [
        ev for f in [*frames[:2], *thinking, *shifted, *frames[-2:]] for ev in decoder.feed(f)
    ]
    assert all(getattr(ev, "index", 0) == 0 for ev in events)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"event: content_block_delta\ndata: {oops\n\n", e.UpstreamError),
        (
            b'data: {"type":"error","error":{"type":"overloaded_error","message":"o"}}',
            e.UpstreamUnavailable,
        ),
        (b'data: {"type":"content_block_delta","index":0}', e.UpstreamError),
    ],
)
def test_stream_decoder_raises_on_garbage_and_error_events(
    frame: bytes, error: type[Exception]
) -> None:
    decoder = codec.StreamDecoder()
    for f in anthropic_mock.stream_frames("m", "text")[:3]:
        decoder.feed(f)
    with pytest.raises(error):
        decoder.feed(frame)


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(st.text(min_size=1, max_size=8), max_size=5),
    args=st.dictionaries(
        st.text(max_size=5), st.integers(-(2**53), 2**53) | st.text(max_size=5), max_size=4
    ),
    cut=st.integers(min_value=1, max_value=6),
)
def test_property_any_openai_stream_round_trips_through_anthropic_events(
    text: list[str], args: dict[str, Any], cut: int
) -> None:
    """OpenAI chunks -> canonical -> Anthropic SSE -> canonical -> OpenAI chunks keeps the text,
    the tool call's arguments and the stop reason, however the arguments were fragmented."""
    arg_text = orjson.dumps(args).decode() if args else ""
    fragments = [arg_text[i : i + cut] for i in range(0, len(arg_text), cut)]
    raw = translate_openai_stream(openai_chunks(text, fragments))
    for name, data in parse_sse(raw):
        check_event(name, data)
    decoder, encoder = codec.StreamDecoder(), oai.StreamEncoder("m", include_usage=True, created=1)
    frames = [f + b"\n\n" for f in raw.split(b"\n\n") if f]
    chunks = b"".join(encoder.encode(ev) for f in frames for ev in decoder.feed(f))
    got_text, got_args, finish = "", "", None
    for line in chunks.split(b"\n\n"):
        if not line or line == b"data: [DONE]":
            continue
        chunk = orjson.loads(line[6:])
        for choice in chunk["choices"]:
            got_text += choice["delta"].get("content") or ""
            for call in choice["delta"].get("tool_calls") or []:
                got_args += call["function"]["arguments"]
            finish = choice["finish_reason"] or finish
    assert got_text == "".join(text) and got_args == arg_text
    assert finish == ("tool_calls" if fragments else "stop")


def test_the_async_anthropic_sdk_accumulates_the_translated_stream() -> None:
    raw = translate_openai_stream(openai_chunks(["Hi"], ['{"city": "Oslo"}']))

    async def go(base_url: str) -> anthropic.types.Message:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0)
        try:
            async with client.messages.stream(
                model="replay", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                return await stream.get_final_message()
        finally:
            await client.close()

    with anthropic_mock.running() as mock:
        mock.replay_body = raw
        final = asyncio.run(go(mock.base_url))
    assert final.content[0].type == "text" and final.content[0].text == "Hi"
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Oslo"}


def test_an_upstream_error_event_keeps_its_class_but_never_its_prose() -> None:
    from arbiter.errors import UpstreamUnavailable
    from arbiter.protocols.anthropic_stream import StreamDecoder

    frame = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "key sk-ant-api03-abcd****wxyz on 10.0.0.7 is overloaded"}}\n\n'
    )
    with pytest.raises(UpstreamUnavailable) as caught:
        StreamDecoder("m").feed(frame)
    assert "overloaded_error" in caught.value.message
    assert "sk-ant" not in caught.value.message and "10.0.0.7" not in caught.value.message
