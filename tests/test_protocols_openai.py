"""OpenAI Chat Completions codec: requests to and from canonical, responses and chunks built from
an Anthropic upstream's answers validated against OpenAI's published spec and the `openai` SDK's
types, and property tests that both request codecs round-trip any conversation."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from arbiter import errors as e
from arbiter.canonical import (
    CanonicalRequest,
    ImagePart,
    Message,
    Part,
    ResponseFormat,
    StreamError,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)
from arbiter.protocols import anthropic as anth
from arbiter.protocols import openai as codec
from tests import anthropic_mock
from tests.openapi_spec import validate

CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}
REQUEST: dict[str, Any] = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ],
    "tools": [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "max_completion_tokens": 99,
    "stop": "END",
    "stream": True,
    "stream_options": {"include_usage": True},
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}},
    },
    "seed": 3,
}


def test_decode_maps_roles_parts_and_parameters() -> None:
    req = codec.decode_request(REQUEST)
    assert req.system == ("Be brief.", "Use tools.") and req.source == "openai"
    assert req.messages[0].parts[1:] == (
        ImagePart("image/jpeg", "/9j/4AAQ"),
        ImagePart(url="https://example.com/a.png"),
    )
    assert req.messages[1].parts == (ToolCallPart("call_1", "get_weather", '{"city":"Paris"}'),)
    assert req.messages[2] == Message("user", (ToolResultPart("call_1", (TextPart("18C"),)),))
    assert req.tool_choice == ToolChoice("any") and req.parallel_tool_calls is False
    assert req.max_tokens == 99 and req.stop == ("END",) and req.stream and req.include_usage
    assert req.response_format == ResponseFormat("json_schema", {"type": "object"}, "w", False)
    assert req.extras == {"seed": 3}


def test_to_anthropic_body() -> None:
    body = anth.encode_request(codec.decode_request(REQUEST), "claude-x", default_max_tokens=5)
    assert body["max_tokens"] == 99 and body["stream"] is True and "seed" not in body
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["messages"][0]["content"][2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.png"},
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "call_1",
                "content": [{"type": "text", "text": "18C"}],
            }
        ],
    }
    assert '"type":"object"' in body["system"][-1]["text"]  # the schema travels in the prompt
    anth.decode_request(body)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        (
            {"messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]},
            "messages[0].tool_call_id",
        ),
        ({"messages": [{"role": "robot", "content": "r"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,xx"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.name",
        ),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice.allowed_tools"),
        ({"temperature": 3}, "temperature"),
        ({"n": 0}, "n"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"stream_options": "yes"}, "stream_options"),
    ],
)
def test_bad_requests_are_invalid_and_name_the_param(patch: dict[str, Any], param: str) -> None:
    with pytest.raises(e.InvalidRequest) as info:
        codec.decode_request({**REQUEST, **patch})
    assert info.value.param == param


def test_non_object_body_is_invalid() -> None:
    with pytest.raises(e.InvalidRequest):
        codec.decode_request(["model"])
    with pytest.raises(e.InvalidRequest):
        codec.parse_request(b"nul")


# -- responses from an Anthropic upstream, for an OpenAI client -------------------------------


@pytest.mark.parametrize(
    ("anthropic_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_anthropic_message_renders_as_a_valid_chat_completion(
    anthropic_reason: str, finish: str
) -> None:
    upstream = {**anthropic_mock.message("claude-x", "tool"), "stop_reason": anthropic_reason}
    body = codec.encode_response(anth.decode_response(upstream), "auto", created=1700000000)
    validate("CreateChatCompletionResponse", body)
    completion = ChatCompletion.model_validate(body)
    choice = completion.choices[0]
    assert choice.finish_reason == finish and choice.message.content == "Let me check."
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (
        call.id == "toolu_01" and orjson.loads(call.function.arguments) == anthropic_mock.TOOL_INPUT
    )  # type: ignore[union-attr]
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens == 171 and usage.completion_tokens == 9
    assert (
        usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 100
    )


def test_openai_usage_round_trips_cached_tokens() -> None:
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 5,
        "total_tokens": 55,
        "prompt_tokens_details": {"cached_tokens": 20},
    }
    body = {
        "id": "x",
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    resp = codec.decode_response(body)
    assert (resp.usage.input_tokens, resp.usage.cache_read_input_tokens) == (30, 20)
    assert codec.encode_response(resp, "m", created=0)["usage"] == usage


def test_malformed_openai_answer_is_an_upstream_error() -> None:
    with pytest.raises(e.UpstreamError):
        codec.decode_response({"choices": []})


# -- streams -----------------------------------------------------------------------------------


def translate_anthropic_stream(kind: str, include_usage: bool = True) -> bytes:
    decoder = anth.StreamDecoder()
    encoder = codec.StreamEncoder("auto", include_usage=include_usage, created=1700000000)
    frames = anthropic_mock.stream_frames("claude-x", kind)
    out = b"".join(encoder.encode(ev) for f in frames for ev in decoder.feed(f))
    assert decoder.done
    return out


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    parts = [p for p in raw.split(b"\n\n") if p]
    assert parts[-1] == b"data: [DONE]"
    return [orjson.loads(p.removeprefix(b"data: ")) for p in parts[:-1]]


@pytest.mark.parametrize("kind", ["text", "tool"])
def test_anthropic_stream_becomes_valid_openai_chunks(kind: str) -> None:
    chunks = chunks_of(translate_anthropic_stream(kind))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        ChatCompletionChunk.model_validate(chunk)
    # OpenAI's live role chunk for an answer that opens with text
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 171
    assert all(c["usage"] is None for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    args = "".join(
        t["function"]["arguments"]
        for c in chunks[:-1]
        for t in c["choices"][0]["delta"].get("tool_calls") or []
    )
    finish = chunks[-2]["choices"][0]["finish_reason"]
    if kind == "tool":
        assert text == "Let me check." and orjson.loads(args) == anthropic_mock.TOOL_INPUT
        assert finish == "tool_calls"
    else:
        assert text == anthropic_mock.TEXT and finish == "stop"


def test_without_include_usage_there_is_no_usage_chunk() -> None:
    chunks = chunks_of(translate_anthropic_stream("text", include_usage=False))
    assert all("usage" not in c and c["choices"] for c in chunks)


def test_the_openai_sdk_accumulates_the_translated_stream() -> None:
    with anthropic_mock.running() as mock:
        mock.replay_body = translate_anthropic_stream("tool")
        client = openai.OpenAI(base_url=mock.base_url, api_key="k", max_retries=0)
        with client.chat.completions.stream(
            model="replay", messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_completion()
        client.close()
    message = final.choices[0].message
    assert message.content == "Let me check." and final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and message.tool_calls[0].id == "toolu_01"
    assert final.usage is not None and final.usage.total_tokens == 180


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> bytes:
    return orjson.dumps(
        {
            "id": "c",
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        }
    )


def test_decoder_builds_blocks_from_parallel_tool_call_fragments() -> None:
    decoder = codec.StreamDecoder()
    feed = [
        _chunk({"role": "assistant"}),
        _chunk({"content": "Two calls."}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        _chunk(
            {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        ),
        _chunk({"content": "ignored"}, index=1),  # another choice: never crosses protocols
        _chunk({}, "tool_calls"),
    ]
    events = [ev for f in feed for ev in decoder.feed(f)]
    assert not decoder.done
    events += decoder.feed(b"data: [DONE]")
    raw = b"".join(anth.StreamEncoder("m").encode(ev) for ev in events)
    names = [line[7:] for line in raw.split(b"\n") if line.startswith(b"event: ")]
    assert names.count(b"content_block_start") == 3 and names.count(b"content_block_stop") == 3
    assert names[-2:] == [b"message_delta", b"message_stop"] and decoder.done


@pytest.mark.parametrize(
    "payload", [b"{oops", b'{"error": {"message": "boom"}}', b'{"choices": [{"delta": 5}]}']
)
def test_decoder_raises_on_garbage(payload: bytes) -> None:
    with pytest.raises(e.UpstreamError):
        codec.StreamDecoder().feed(payload)


def test_mid_stream_failure_is_one_error_event_and_no_done() -> None:
    encoder = codec.StreamEncoder("m", include_usage=False, created=0)
    raw = encoder.encode(StreamError(e.UpstreamTimeout("slow")))
    assert b"[DONE]" not in raw
    assert orjson.loads(raw.removeprefix(b"data: "))["error"]["code"] == "upstream_timeout"


# -- property: both request codecs round-trip any conversation --------------------------------

_text = st.text(min_size=1, max_size=12)
_args = st.dictionaries(
    st.text(max_size=4), st.integers(-1000, 1000) | st.text(max_size=4), max_size=3
)
# valid base64 (whole 4-character groups) after the type's signature: anything else is refused
_image = st.sampled_from([("image/png", "iVBORw0KGgoA"), ("image/jpeg", "/9j/4AAQ")]).flatmap(
    lambda kind: st.text("abcXYZ09+/", min_size=1, max_size=3).map(
        lambda t: ImagePart(kind[0], kind[1] + t * 4)
    )
)


@st.composite
def conversations(draw: st.DrawFn) -> CanonicalRequest:
    messages: list[Message] = []
    for turn in range(draw(st.integers(1, 3))):
        results: list[Part] = [
            ToolResultPart(p.id, (TextPart(draw(_text)),))
            for p in (messages[-1].parts if messages else ())
            if isinstance(p, ToolCallPart)
        ]
        user: list[Part] = [*results, TextPart(draw(_text))]
        user += draw(st.lists(_image, max_size=1))
        messages.append(Message("user", tuple(user)))
        calls = [
            ToolCallPart(
                f"call_{turn}_{k}",
                draw(st.sampled_from(["f", "g"])),
                orjson.dumps(draw(_args)).decode(),
            )
            for k in range(draw(st.integers(0, 2)))
        ]
        messages.append(Message("assistant", (TextPart(draw(_text)), *calls)))
    last = [
        ToolResultPart(p.id, (TextPart("ok"),))
        for p in messages[-1].parts
        if isinstance(p, ToolCallPart)
    ]
    messages.append(Message("user", (*last, TextPart(draw(_text)))))
    return CanonicalRequest(
        model="m",
        messages=tuple(messages),
        source="openai",
        system=tuple(draw(st.lists(_text, max_size=2))),
        max_tokens=draw(st.integers(1, 9999)),
    )


def merged(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    out: list[Message] = []
    for msg in messages:
        if out and out[-1].role == msg.role:
            out[-1] = Message(msg.role, out[-1].parts + msg.parts)
        else:
            out.append(msg)
    return tuple(out)


@settings(max_examples=80, deadline=None)
@given(conversations())
def test_property_openai_request_round_trip(req: CanonicalRequest) -> None:
    body = codec.encode_request(req, "gpt-x")
    validate("CreateChatCompletionRequest", body)
    back = codec.decode_request(body)
    assert merged(back.messages) == req.messages and back.system == req.system
    assert back.max_tokens == req.max_tokens


@settings(max_examples=80, deadline=None)
@given(conversations())
def test_property_anthropic_request_round_trip(req: CanonicalRequest) -> None:
    body = anth.encode_request(req, "claude-x", default_max_tokens=1)
    back = anth.decode_request(body)
    assert back.messages == req.messages and back.system == req.system
    assert back.max_tokens == req.max_tokens


def test_function_tools_read_alike_in_chat_and_responses() -> None:
    """One reader (protocols.openai.function_tool) for both APIs' function tools: no parameters
    or {} is an empty object schema; parameters that are not an object are a 400 naming them in
    either API (chat used to swap a falsy non-object for the empty schema silently)."""
    from arbiter.canonical import Tool
    from arbiter.errors import InvalidRequest
    from arbiter.protocols import openai as chat
    from arbiter.protocols import openai_responses as responses

    empty = {"type": "object", "properties": {}}
    user = [{"role": "user", "content": "Hi"}]
    for params in (None, {}):
        fn = {"name": "f", **({} if params is None else {"parameters": params})}
        got = chat.decode_request({"model": "m", "messages": user,
                                   "tools": [{"type": "function", "function": fn}]})  # fmt: skip
        req, _ = responses.decode_request(
            {"model": "m", "input": "Hi", "tools": [{"type": "function", **fn}]}
        )
        assert got.tools == req.tools == (Tool("f", None, empty),)
    with pytest.raises(InvalidRequest) as info:
        chat.decode_request({"model": "m", "messages": user, "tools": [
            {"type": "function", "function": {"name": "f", "parameters": []}}]})  # fmt: skip
    assert info.value.param == "tools[0].function.parameters"
    with pytest.raises(InvalidRequest) as info:
        responses.decode_request({"model": "m", "input": "Hi", "tools": [
            {"type": "function", "name": "f", "parameters": []}]})  # fmt: skip
    assert info.value.param == "tools[0].parameters"
