"""Anthropic Messages codec: strict request validation, translation to and from OpenAI bodies,
responses and stream events validated with the official `anthropic` SDK's own types, and the
SDK's stream accumulator rebuilding a message from the encoder's bytes."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from anthropic.types import Message as SdkMessage
from anthropic.types.shared.error_response import ErrorResponse

from arbiter import errors as e
from arbiter.canonical import (
    CanonicalResponse,
    CanonicalUsage,
    ImagePart,
    Message,
    OpaquePart,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from arbiter.protocols import anthropic as codec
from arbiter.protocols import openai as oai
from arbiter.protocols import untranslatable
from tests import anthropic_mock
from tests.openapi_spec import validate

PNG = "iVBORw0KGgo="
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOL_CONVERSATION: dict[str, Any] = {
    "model": "auto",
    "max_tokens": 256,
    "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}],
    "tools": [WEATHER_TOOL],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["END"],
    "temperature": 0.5,
    "top_k": 40,
    "metadata": {"user_id": "u-1"},
    "stream": None,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris? See the photo."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, sunny"},
                {"type": "text", "text": "Thanks, and tomorrow?"},
            ],
        },
    ],
}


def test_decode_keeps_every_part_and_parameter() -> None:
    req = codec.decode_request(TOOL_CONVERSATION)
    assert req.source == "anthropic" and req.system == ("Be brief.", "Use tools.")
    assert req.max_tokens == 256 and req.top_k == 40 and req.stop == ("END",)
    assert req.user == "u-1" and req.stream is False and req.temperature == 0.5
    assert req.messages[0].parts[1] == ImagePart("image/png", PNG)
    call = req.messages[1].parts[1]
    assert call == ToolCallPart("toolu_1", "get_weather", '{"city":"Paris"}')
    assert req.messages[2].parts[0] == ToolResultPart("toolu_1", (TextPart("18C, sunny"),))
    assert req.tools[0].parameters == WEATHER_TOOL["input_schema"]
    assert req.extras == {}


def test_unknown_fields_are_kept_as_extras_for_pass_through() -> None:
    # without temperature and top_k: Anthropic refuses them next to thinking (probe12a)
    sampled = {k: v for k, v in TOOL_CONVERSATION.items() if k not in ("temperature", "top_k")}
    req = codec.decode_request(
        {**sampled, "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    )
    assert req.extras == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert untranslatable(req, "anthropic") is None
    assert untranslatable(req, "openai") == "the 'thinking' parameter"


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(TOOL_CONVERSATION)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()
BAD: list[tuple[Any, str | None]] = [
    ([1, 2], None),
    (_with(["max_tokens"], _DELETE), "max_tokens"),
    (_with(["max_tokens"], 0), "max_tokens"),
    (_with(["max_tokens"], True), "max_tokens"),
    (_with(["model"], ""), "model"),
    (_with(["messages"], []), "messages"),
    (_with(["messages"], "hi"), "messages"),
    (_with(["messages", 0], "hi"), "messages.0"),
    (_with(["messages", 0, "role"], "developer"), "messages.0.role"),
    (_with(["messages", 0, "role"], "tool"), "messages.0.role"),
    (_with(["messages", 0, "content", 0, "type"], "image_url"), "messages.0.content.0.type"),
    (_with(["messages", 0, "content", 0, "text"], ["nested"]), "messages.0.content.0.text"),
    (
        _with(
            ["messages", 0, "content", 0], {"type": "tool_use", "id": "x", "name": "n", "input": {}}
        ),
        "messages.0.content.0.type",
    ),
    (
        _with(["messages", 1, "content", 0], {"type": "tool_result", "tool_use_id": "toolu_1"}),
        "messages.1.content.0.type",
    ),
    (
        _with(["messages", 0, "content", 1, "source", "media_type"], "image/bmp"),
        "messages.0.content.1.source.media_type",
    ),
    (
        _with(["messages", 0, "content", 1, "source"], {"type": "files", "file_id": "f"}),
        "messages.0.content.1.source.type",
    ),
    (_with(["messages", 1, "content", 1, "input"], "{}"), "messages.1.content.1.input"),
    (
        _with(["messages", 2, "content", 0, "tool_use_id"], "toolu_other"),
        "messages.2.content.0.tool_use_id",
    ),
    (
        _with(
            ["messages", 2, "content", 0, "content"],
            [{"type": "tool_result", "tool_use_id": "toolu_1"}],
        ),
        "messages.2.content.0.content.0.type",
    ),
    (
        _with(["messages", 1], {"role": "assistant", "content": "no tool call"}),
        "messages.2.content.0.tool_use_id",
    ),
    (
        _with(["messages", 2, "content"], [{"type": "text", "text": "no result"}]),
        "messages.2.content",
    ),
    # unhashable values where a name is expected (were a TypeError, i.e. a 500)
    (
        _with(["messages", 0, "content", 1, "source", "media_type"], []),
        "messages.0.content.1.source.media_type",
    ),
    (_with(["messages", 0, "content", 0, "type"], {}), "messages.0.content.0.type"),
    (_with(["system"], [{"type": "image"}]), "system.0.type"),
    (_with(["system"], 5), "system"),
    (_with(["temperature"], 1.5), "temperature"),
    (_with(["top_p"], -0.1), "top_p"),
    (_with(["top_k"], -1), "top_k"),
    (_with(["top_k"], 2.5), "top_k"),
    (_with(["stop_sequences"], "END"), "stop_sequences"),
    (_with(["stop_sequences"], [1]), "stop_sequences.0"),
    (_with(["stream"], "yes"), "stream"),
    (_with(["metadata"], {"user_id": "u", "session": "s"}), "metadata.session"),
    (_with(["metadata"], "u"), "metadata"),
    (_with(["tools", 0, "input_schema"], {"type": "array"}), "tools.0.input_schema"),
    (_with(["tools", 0], {"name": "t"}), "tools.0.input_schema"),
    (_with(["tool_choice"], {"type": "required"}), "tool_choice.type"),
    (_with(["tool_choice"], {"type": "tool"}), "tool_choice.name"),
]


@pytest.mark.parametrize(("body", "param"), BAD)
def test_bad_requests_are_invalid_and_name_the_param(body: Any, param: str | None) -> None:
    with pytest.raises(e.InvalidRequest) as info:
        codec.decode_request(body)
    assert info.value.param == param
    assert codec.error_status(info.value) == 400


def test_parse_request_rejects_garbage_as_invalid() -> None:
    with pytest.raises(e.InvalidRequest):
        codec.parse_request(b"{not json")
    assert codec.parse_request(orjson.dumps(TOOL_CONVERSATION)).model == "auto"


def test_valid_blocks_without_an_openai_counterpart_are_opaque_and_refused_cross_protocol() -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    req = codec.decode_request(_with(["messages", 0, "content", 0], doc))
    assert isinstance(req.messages[0].parts[0], OpaquePart)
    assert untranslatable(req, "openai") == "document content"


def test_anthropic_to_openai_body_keeps_tool_ids_images_and_system() -> None:
    req = codec.decode_request(TOOL_CONVERSATION)
    assert untranslatable(req, "openai") is None  # top_k is dropped, not refused
    body = oai.encode_request(req, "gpt-x")
    validate("CreateChatCompletionRequest", body)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "system", "user", "assistant", "tool", "user"]
    assert body["messages"][2]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert body["messages"][3]["tool_calls"][0]["id"] == "toolu_1"
    assert body["messages"][4] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "18C, sunny",
    }
    assert body["stop"] == ["END"] and body["user"] == "u-1" and "top_k" not in body
    # ... and back: the OpenAI body decodes to the same conversation
    back = oai.decode_request(body)
    assert merged(back.messages) == req.messages and back.system == req.system


def merged(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """Consecutive same-role turns as one, as Anthropic reads them."""
    out: list[Message] = []
    for msg in messages:
        if out and out[-1].role == msg.role:
            out[-1] = Message(msg.role, out[-1].parts + msg.parts)
        else:
            out.append(msg)
    return tuple(out)


def test_openai_to_anthropic_body_merges_turns_and_puts_tool_results_first() -> None:
    body = oai.encode_request(codec.decode_request(TOOL_CONVERSATION), "gpt-x")
    body["temperature"] = 1.7
    body["response_format"] = {"type": "json_object"}
    req = oai.decode_request(body)
    assert untranslatable(req, "anthropic") is None
    out = codec.encode_request(req, "claude-x", default_max_tokens=1024)
    assert out["temperature"] == 1.0  # clamped to Anthropic's range
    assert "JSON" in out["system"][-1]["text"]
    again = codec.decode_request(out)  # our strict decoder accepts what we send
    assert [m.role for m in again.messages] == ["user", "assistant", "user"]
    assert again.messages[2].parts[0] == ToolResultPart("toolu_1", (TextPart("18C, sunny"),))
    assert again.messages[1].parts[1] == ToolCallPart("toolu_1", "get_weather", '{"city":"Paris"}')


def test_openai_request_without_max_tokens_gets_the_default() -> None:
    req = oai.decode_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    out = codec.encode_request(req, "claude-x", default_max_tokens=777)
    assert out == {
        "model": "claude-x",
        "max_tokens": 777,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({"n": 2}, "n > 1 (several choices per request)"),
        ({"logprobs": True}, "the 'logprobs' parameter"),
        ({"seed": 7, "logprobs": False}, None),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "strict": True, "schema": {"type": "object"}},
                }
            },
            None,  # Anthropic's structured outputs carry it (output_config.format)
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {"data": "AA==", "format": "wav"},
                            }
                        ],
                    }
                ]
            },
            "audio input",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "f", "arguments": "[1]"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c", "content": "r"},
                ]
            },
            None,  # carried as {"_raw": "[1]"} (test_probe22a_oa_client)
        ),
    ],
)
def test_untranslatable_to_anthropic(extra: dict[str, Any], refused: str | None) -> None:
    req = oai.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    )
    assert untranslatable(req, "anthropic") == refused
    assert untranslatable(req, "openai") is None


def test_untranslatable_to_openai() -> None:
    prefill = _with(
        ["messages"], [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]
    )
    assert (
        untranslatable(codec.decode_request(prefill), "openai")
        == "a final assistant message (prefill)"
    )
    stops = _with(["stop_sequences"], ["a", "b", "c", "d", "e"])
    assert untranslatable(codec.decode_request(stops), "openai") == "more than 4 stop_sequences"
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    result = _with(["messages", 2, "content", 0, "content"], [image])
    # carried: the `tool` message gets the text, a user message after it the images
    assert untranslatable(codec.decode_request(result), "openai") is None
    server_tool = _with(["tools"], [{"type": "web_search_20250305", "name": "web_search"}])
    assert (
        untranslatable(codec.decode_request(server_tool), "openai")
        == "the 'web_search_20250305' tool type"
    )


# -- responses ---------------------------------------------------------------------------------

USAGE = CanonicalUsage(21, 9, cache_read_input_tokens=100, cache_creation_input_tokens=50)


@pytest.mark.parametrize(
    ("openai_reason", "anthropic_reason"),
    [
        # tool calls ended by "stop" (a forced tool_choice; Gemini) are still tool_use
        ("stop", "tool_use"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ],
)
def test_openai_response_renders_as_a_valid_anthropic_message(
    openai_reason: str, anthropic_reason: str
) -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    upstream = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [
            {
                "index": 0,
                "finish_reason": openai_reason,
                "logprobs": None,
                "message": {"role": "assistant", "content": "Hi", "tool_calls": calls},
            }
        ],
        "usage": {
            "prompt_tokens": 171,
            "completion_tokens": 9,
            "total_tokens": 180,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
    body = codec.encode_response(oai.decode_response(upstream), "auto")
    msg = SdkMessage.model_validate(body)
    assert msg.stop_reason == anthropic_reason and msg.model == "auto"
    assert msg.content[1].type == "tool_use" and msg.content[1].input == {"a": 1}
    assert msg.usage.input_tokens == 71 and msg.usage.cache_read_input_tokens == 100
    assert msg.id.startswith("msg_")


def test_anthropic_response_round_trips_with_cache_usage() -> None:
    body = anthropic_mock.message("claude-x", "tool")
    resp = codec.decode_response(body)
    assert resp.usage == USAGE and resp.stop_reason == "tool_use"
    again = codec.encode_response(resp, "claude-x")
    assert SdkMessage.model_validate(again).model_dump(
        exclude_none=True
    ) == SdkMessage.model_validate(body).model_dump(exclude_none=True)


def test_unparseable_tool_arguments_are_kept_not_lost() -> None:
    resp = CanonicalResponse("1", "m", (ToolCallPart("c", "f", '{"a": '),), "tool_use")
    assert SdkMessage.model_validate(codec.encode_response(resp, "m")).content[0].input == {
        "_raw": '{"a": '
    }  # type: ignore[union-attr]


def test_malformed_upstream_message_is_an_upstream_error() -> None:
    with pytest.raises(e.UpstreamError):
        codec.decode_response({"content": "nope"})


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "kind", "status"),
    [
        (e.InvalidRequest("x", param="max_tokens"), "invalid_request_error", 400),
        (e.ContextTooLong("x"), "invalid_request_error", 400),
        (e.Unauthorized("x"), "authentication_error", 401),
        (e.PolicyDenied("x"), "permission_error", 403),
        (e.UnknownModel("x"), "not_found_error", 404),
        (e.BudgetExceeded("x"), "rate_limit_error", 429),
        (e.UpstreamRateLimited("x"), "rate_limit_error", 429),
        (e.UpstreamUnavailable("x"), "overloaded_error", 529),
        (e.NoRouteAvailable("x"), "overloaded_error", 529),
        (e.UpstreamTimeout("x"), "timeout_error", 504),
        (e.UpstreamError("x"), "api_error", 502),
        (e.ArbiterError("x"), "api_error", 500),
        (e.UpstreamRejected("x", upstream_status=404), "not_found_error", 404),
    ],
)
def test_errors_render_in_anthropic_shape_and_status(
    err: e.ArbiterError, kind: str, status: int
) -> None:
    body = codec.error_body(err)
    assert ErrorResponse.model_validate(body).error.type == kind
    assert codec.error_status(err) == status
    event = codec.sse_error_event(err)
    assert event.startswith(b"event: error\ndata: ")
    assert (
        ErrorResponse.model_validate(orjson.loads(event.split(b"data: ", 1)[1])).error.type == kind
    )


def test_payload_too_large_uses_anthropics_413_type() -> None:
    assert codec.error_body(e.PayloadTooLarge("big")) == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "big"},
    }
    assert codec.error_status(e.PayloadTooLarge("big")) == 413


def test_whitespace_stop_sequences_are_refused_like_anthropic_does() -> None:
    with pytest.raises(e.InvalidRequest) as info:
        codec.decode_request(_with(["stop_sequences"], ["\n"]))
    assert info.value.param == "stop_sequences.0"
    req = oai.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": "\n"}
    )
    assert (
        untranslatable(req, "anthropic")
        == "a whitespace-only stop sequence (Anthropic refuses them)"
    )


def test_count_tokens_bodies_need_no_max_tokens() -> None:
    body = _with(["max_tokens"], _DELETE)
    with pytest.raises(e.InvalidRequest):
        codec.decode_request(body)
    # count_tokens takes none of the create-only fields (Anthropic's MessageCountTokensParams)
    with pytest.raises(e.InvalidRequest, match="stop_sequences: Extra inputs"):
        codec.decode_request(body, count_tokens=True)
    create_only = {"stop_sequences", "temperature", "top_k", "metadata", "stream"}
    body = {k: v for k, v in body.items() if k not in create_only}
    counted = codec.count_tokens_body(codec.decode_request(body, count_tokens=True))
    assert counted["input_tokens"] > 10


def test_tool_results_come_first_in_a_merged_user_turn() -> None:
    """OpenAI allows a user message before the `tool` messages; Anthropic wants the
    tool_result blocks first in the (merged) user turn."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    req = oai.decode_request({
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "user", "content": "also this"},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
    })  # fmt: skip
    body = codec.encode_request(req, "claude-x", default_max_tokens=8)
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]
    codec.decode_request(body)


def test_tool_pairs_are_checked_on_turns_not_messages() -> None:
    """Consecutive same-role messages are one turn to Anthropic: a tool_use in the first of two
    assistant messages may be answered by a tool_result in the second of two user messages."""
    body = copy.deepcopy(TOOL_CONVERSATION)
    body["messages"][1:3] = [
        {"role": "assistant", "content": [body["messages"][1]["content"][1]]},
        {"role": "assistant", "content": "and more"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": [body["messages"][2]["content"][0]]},
    ]
    req = codec.decode_request(body)
    assert len(req.messages) == 5
    body["messages"].append({"role": "assistant", "content": "done"})
    body["messages"].append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}
    )
    with pytest.raises(e.InvalidRequest) as info:
        codec.decode_request(body)  # answers a tool_use two turns back
    assert info.value.param == "messages.6.content.0.tool_use_id"


PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
          "additionalProperties": False}  # fmt: skip
PERSON_FORMAT = {"type": "json_schema", "schema": PERSON}


def test_a_strict_openai_schema_becomes_anthropic_output_config_format() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": PERSON}}
    req = oai.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": rf}
    )
    out = codec.encode_request(req, "claude-x", default_max_tokens=100)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": PERSON}}
    assert "system" not in out  # no best-effort instruction besides the constrained decoding
    # not strict: still the instruction, which any Anthropic model follows as it can
    rf["json_schema"]["strict"] = False
    loose = codec.encode_request(
        oai.decode_request(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": rf}
        ),
        "claude-x",
        default_max_tokens=100,
    )
    assert "output_config" not in loose and "JSON Schema" in loose["system"]


def test_anthropic_output_config_format_decodes_to_a_strict_schema_for_openai() -> None:
    body = {
        "model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": PERSON}},
    }  # fmt: skip
    req = codec.decode_request(body)
    assert req.response_format == ResponseFormat("json_schema", PERSON, None, strict=True)
    assert req.extras == {} and untranslatable(req, "openai") is None
    assert oai.encode_request(req, "gpt-x")["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "strict": True, "schema": PERSON},
    }
    # back to Anthropic (a same-protocol re-encode) it is output_config.format again
    again = codec.encode_request(req, "claude-x", default_max_tokens=10)
    assert again["output_config"] == body["output_config"]
    # the beta's top-level output_format means the same
    base = {k: v for k, v in body.items() if k != "output_config"}
    legacy = {**base, "output_format": PERSON_FORMAT}
    assert codec.decode_request(legacy).response_format == req.response_format
    # `effort` stays: an Anthropic model keeps it, an OpenAI one cannot carry it
    effort = {**base, "output_config": {"effort": "low", "format": PERSON_FORMAT}}
    kept = codec.decode_request(effort)
    assert kept.extras == {"output_config": {"effort": "low"}}
    assert untranslatable(kept, "openai") == "the 'output_config' parameter"
    assert codec.encode_request(kept, "claude-x", default_max_tokens=10)["output_config"] == {
        "effort": "low", "format": PERSON_FORMAT,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
        ({"output_format": "json"}, "output_format"),
        (
            {"output_format": PERSON_FORMAT, "output_config": {"format": PERSON_FORMAT}},
            "output_format",
        ),
    ],
)
def test_a_malformed_output_format_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(e.InvalidRequest) as err:
        codec.decode_request({**body, **fields})
    assert err.value.param == param
