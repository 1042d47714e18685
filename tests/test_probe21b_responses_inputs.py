"""probe21b: the Responses API's inputs and options from outside, with the official openai SDK,
against a real `arbiter serve` whose upstream records what it receives (tests/probe21b_rig.py):
each request reaches the upstream as the spec means it, in the upstream's protocol (an OpenAI
model gets Chat Completions, an Anthropic model Messages), or is a 400 in OpenAI's shape naming
the field, never a 500."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from arbiter.surfaces.openai_responses import caller_param
from tests.probe21b_rig import Rig, rig

# a 1x1 PNG (the sidecar checks inline images' bytes)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
TOOL = {"type": "function", "name": "lookup", "description": "look a word up",
        "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}},
        "strict": False}  # fmt: skip


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe21b")) as made:
        yield made


def mark(script: str = "ok") -> str:
    """A text unique to one request, naming the upstream's script."""
    return f"[[s:{script}]] {uuid.uuid4().hex}"


def sent(r: Rig, marker: str) -> tuple[str, dict[str, Any]]:
    return r.recorder.one(marker.split()[-1])


def bad(r: Rig, body: dict[str, Any], param: str | None) -> dict[str, Any]:
    """A 400 in OpenAI's shape naming `param`; nothing reached the upstream."""
    before = len(r.recorder.seen)
    resp = r.raw("/v1/responses", body)
    assert resp.status_code == 400, (resp.status_code, resp.text)
    err = resp.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}, err
    assert err["type"] == "invalid_request_error", err
    if param is not None:
        assert err["param"] == param, err
    assert len(r.recorder.seen) == before
    return dict(err)


MODELS = ["oa-1", "an-1"]


@pytest.mark.parametrize("model", MODELS)
def test_a_plain_string_and_instructions_reach_the_upstream(r: Rig, model: str) -> None:
    m = mark()
    resp = r.client.responses.create(model=model, input=m, instructions="Be terse.")
    assert resp.output_text == "ok" and resp.status == "completed"
    assert resp.instructions == "Be terse."
    path, body = sent(r, m)
    if model == "oa-1":
        assert path == "/v1/chat/completions"
        assert [(x["role"], text_of(x["content"])) for x in body["messages"]] == [
            ("system", "Be terse."), ("user", m)]  # fmt: skip
    else:
        assert path == "/v1/messages"
        assert text_of(body["system"]) == "Be terse."
        assert [(x["role"], text_of(x["content"])) for x in body["messages"]] == [("user", m)]


def text_of(content: Any) -> str:
    """A message's text, whether the content is a string or text parts."""
    if isinstance(content, str):
        return content
    assert all(p["type"] == "text" for p in content), content
    return "".join(p["text"] for p in content)


@pytest.mark.parametrize("model", MODELS)
def test_message_items_of_every_role(r: Rig, model: str) -> None:
    m = mark()
    resp = r.client.responses.create(
        model=model,
        input=[
            {"role": "system", "content": "S1"},
            {"role": "developer", "content": "D1"},
            {"role": "user", "content": [{"type": "input_text", "text": "U1"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "A1"}]},
            {"role": "user", "content": m},
        ],
    )  # fmt: skip
    assert resp.output_text == "ok"
    _, body = sent(r, m)
    text = str(body)
    for word in ("S1", "D1", "U1", "A1"):
        assert word in text
    roles = [x["role"] for x in body["messages"]]
    assert roles[-3:] == ["user", "assistant", "user"], roles


@pytest.mark.parametrize("model", MODELS)
def test_images_by_url_and_data_url(r: Rig, model: str) -> None:
    m = mark()
    r.client.responses.create(
        model=model,
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": m},
            {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
        ]}],
    )  # fmt: skip
    _, body = sent(r, m)
    assert PNG_URL.split(",")[1] in str(body)


@pytest.mark.parametrize("model", MODELS)
def test_a_function_call_and_its_output_round_trip(r: Rig, model: str) -> None:
    m = mark()
    resp = r.client.responses.create(
        model=model,
        tools=[TOOL],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": m},
            {"type": "function_call", "call_id": "call_x", "name": "lookup",
             "arguments": '{"q": 2}'},
            {"type": "function_call_output", "call_id": "call_x", "output": "two"},
        ],
    )  # fmt: skip
    assert resp.output_text == "ok"
    path, body = sent(r, m)
    if path.endswith("/chat/completions"):
        calls = body["messages"][1]["tool_calls"]
        assert calls[0]["id"] == "call_x" and calls[0]["function"]["arguments"] == '{"q": 2}'
        assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_x", "content": "two"}
    else:
        use = body["messages"][1]["content"][0]
        assert use["type"] == "tool_use" and use["input"] == {"q": 2}
        result = body["messages"][2]["content"][0]
        assert result["type"] == "tool_result" and result["tool_use_id"] == use["id"]


@pytest.mark.parametrize(
    ("input_", "param"),
    [
        ("", "input"),
        ([], "input"),
        ([{"role": "user", "content": []}], "input[0].content"),
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        ([{"role": "user", "content": [{"type": "input_audio",
                                        "input_audio": {"data": "AA==", "format": "wav"}}]}],
         "input[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "input[0].content[0].text"),
        ([{"role": "user", "content": [{"type": "input_image"}]}],
         "input[0].content[0].image_url"),
        ([{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/y.pdf"}]}],
         "input[0].content[0].file_url"),
        ([{"role": "user", "content": "hi"},
          {"type": "function_call_output", "call_id": "nope", "output": "x"}],
         "input[1].call_id"),
        ([{"role": "user", "content": "hi"},
          {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"}],
         "input[1].call_id"),
        ([{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
        ([{"type": "web_search_call", "id": "ws_1", "status": "completed"}], "input[0].type"),
        ({"role": "user", "content": "hi"}, "input"),
        (7, "input"),
        ([[{"role": "user", "content": "hi"}]], "input[0]"),
        ([{"role": "user", "content": {"type": "input_text", "text": "x"}}], "input[0].content"),
    ],
)  # fmt: skip
def test_wrong_inputs_are_400s_naming_the_field(r: Rig, input_: Any, param: str) -> None:
    bad(r, {"model": "oa-1", "input": input_}, param)


def test_a_missing_input_is_openais_missing_parameter(r: Rig) -> None:
    err = bad(r, {"model": "oa-1"}, "input")
    assert "input" in err["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"background": True}, "background"),
        ({"store": True}, "store"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
         "tools[0].type"),
        ({"tool_choice": {"type": "function", "name": "nope"}, "tools": [TOOL]},
         "tool_choice.name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"truncation": "middle"}, "truncation"),
        ({"metadata": {"k": 5}}, None),
        ({"metadata": {"k" * 65: "v"}}, None),
        ({"include": ["nonsense"]}, "include"),
        ({"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
         "text.format.name"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"user": 5}, "user"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)  # fmt: skip
def test_wrong_options_are_400s_naming_the_field(
    r: Rig, extra: dict[str, Any], param: str | None
) -> None:
    bad(r, {"model": "oa-1", "input": "hi", **extra}, param)


@pytest.mark.parametrize("model", MODELS)
def test_options_reach_the_upstream(r: Rig, model: str) -> None:
    m = mark("tool")
    resp = r.client.responses.create(
        model=model, input=m, tools=[TOOL],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "lookup"}, parallel_tool_calls=False,
        max_output_tokens=77, temperature=0.5, top_p=0.5, store=False,
        metadata={"run": "p21"}, user="u-1", truncation="auto",
        include=["reasoning.encrypted_content"],
    )  # fmt: skip
    assert resp.metadata == {"run": "p21"} and resp.max_output_tokens == 77
    assert resp.temperature == 0.5 and resp.top_p == 0.5 and resp.parallel_tool_calls is False
    calls = [i for i in resp.output if i.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup"
    assert json.loads(calls[0].arguments) == {"q": 1}
    path, body = sent(r, m)
    assert body["temperature"] == 0.5
    if path.endswith("/chat/completions"):
        assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
        assert body["parallel_tool_calls"] is False
        assert body.get("max_tokens", body.get("max_completion_tokens")) == 77
        assert body["tools"][0]["function"]["name"] == "lookup"
    else:
        assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == "lookup"
        assert body["tool_choice"].get("disable_parallel_tool_use") is True
        assert body["max_tokens"] == 77
        assert body["tools"][0]["name"] == "lookup"
    assert "metadata" not in body or body["metadata"] != {"run": "p21"}


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json_object"},
        {"type": "json_schema", "name": "obj", "strict": True,
         "schema": {"type": "object", "properties": {"a": {"type": "integer"}},
                    "required": ["a"], "additionalProperties": False}},
    ],
)  # fmt: skip
def test_text_format_reaches_an_openai_model(r: Rig, fmt: dict[str, Any]) -> None:
    m = mark("json")
    resp = r.client.responses.create(
        model="oa-1",
        input=m + " answer in JSON",
        text={"format": fmt},  # type: ignore[typeddict-item]
    )
    assert resp.output_text == '{"a": 1}'
    _, body = sent(r, m)
    assert body["response_format"]["type"] == fmt["type"]


@pytest.mark.parametrize(
    ("model", "strict"), [("em-1", False), ("em-1", True), ("an-1", True)]
)  # fmt: skip
def test_json_to_a_model_that_cannot_promise_it_is_a_400(r: Rig, model: str, strict: bool) -> None:
    """em-1 lacks `json`; an-1 lacks `json-schema` (a strict schema across protocols)."""
    fmt = {
        "type": "json_schema",
        "name": "obj",
        "schema": {"type": "object", "additionalProperties": False},
        "strict": strict,
    }
    err = bad(r, {"model": model, "input": "hi", "text": {"format": fmt}}, "text.format")
    assert "text.format" in err["message"]


def test_auto_routes_and_answers(r: Rig) -> None:
    m = mark()
    raw = r.client.responses.with_raw_response.create(model="auto", input=m)
    resp = raw.parse()
    assert resp.output_text == "ok"
    chosen = raw.headers["x-arbiter-model"]
    assert chosen in ("oa-1", "an-1") and resp.model == chosen
    path, _ = sent(r, m)
    assert path.endswith("/messages") == (chosen == "an-1")


def test_an_oversized_body_is_a_413_or_400_in_openais_shape(r: Rig) -> None:
    resp = r.raw("/v1/responses", {"model": "oa-1", "input": "x" * (40 * 1024 * 1024)})
    assert resp.status_code in (400, 413), resp.status_code
    assert "error" in resp.json() and resp.json()["error"]["message"]


def test_deeply_nested_input_is_a_400(r: Rig) -> None:
    nested: Any = "x"
    for _ in range(5000):
        nested = [nested]
    resp = r.raw("/v1/responses", b'{"model": "oa-1", "input": ' + orjson_dumps(nested) + b"}")
    assert resp.status_code == 400, (resp.status_code, resp.text[:200])
    assert resp.json()["error"]["type"] == "invalid_request_error"


def orjson_dumps(value: Any) -> bytes:
    # orjson refuses depth past 254: build the text by hand
    depth = 0
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    return b"[" * depth + b'"x"' + b"]" * depth


def test_the_sdk_raises_bad_request_for_a_400(r: Rig) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        r.client.responses.create(model="oa-1", input="hi", previous_response_id="resp_x")
    assert caught.value.param == "previous_response_id"  # type: ignore[attr-defined]
    assert caught.value.status_code == 400


def test_a_reasoning_item_from_openai_is_accepted(r: Rig) -> None:
    m = mark()
    r.client.responses.create(
        model="oa-1",
        input=[
            {"role": "user", "content": "first"},
            {"type": "reasoning", "id": "rs_1", "summary": [],
             "encrypted_content": "gAAAA-openai-opaque"},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "A1", "annotations": []}]},
            {"role": "user", "content": m},
        ],
    )  # fmt: skip
    _, body = sent(r, m)
    assert "gAAAA" not in str(body)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", {"input": "hi", "max_output_tokens": 10**9}, "max_output_tokens"),
        ("/v1/responses", {"input": "hi " * 40_000, "max_output_tokens": 5}, "input"),
        ("/v1/responses", {"input": "hi " * 40_000}, "input"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "max_tokens": 10**9}, "max_tokens"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "max_completion_tokens": 40_000}, "max_completion_tokens"),
        ("/v1/messages", {"messages": [{"role": "user", "content": "hi"}],
                          "max_tokens": 10**9}, "max_tokens"),
    ],
)  # fmt: skip
def test_a_request_past_the_named_models_window_names_what_to_lower(
    r: Rig, path: str, body: dict[str, Any], param: str
) -> None:
    """The output limit when the input alone fits (the client asked for more output than the
    window holds), else the conversation; OpenAI's code either way."""
    before = len(r.recorder.seen)
    resp = r.raw(path, {"model": "oa-1", **body}, anthropic_version="2023-06-01")
    assert resp.status_code == 400, resp.text[:300]
    err = resp.json()["error"]
    if path != "/v1/messages":  # Anthropic's error names no field: its message does
        assert err["code"] == "context_length_exceeded" and err["param"] == param, err
    assert "32000 tokens" in err["message"], err
    if param.startswith("max_"):
        assert f"for the output ('{param}')" in err["message"], err
    assert len(r.recorder.seen) == before


@pytest.mark.parametrize(
    ("detail", "sent_as"), [("low", "low"), ("high", "high"), ("auto", "auto"),
                            ("original", "high"), (None, None)],
)  # fmt: skip
@pytest.mark.parametrize("model", MODELS)
def test_an_images_detail_reaches_an_openai_model(
    r: Rig, model: str, detail: str | None, sent_as: str | None
) -> None:
    """`detail` sets what OpenAI bills for an image (`low`: 85 tokens; a 1024 px image at `auto`
    765): dropped, a caller who asked for `low` to save was billed ~9x for it (the budget
    reserves every image's ceiling either way). `original` is
    the Responses API's own, sent to Chat Completions as its nearest, `high`; Anthropic's API
    has no such field."""
    m = mark()
    part = {"type": "input_image", "image_url": PNG_URL}
    if detail is not None:
        part["detail"] = detail
    r.client.responses.create(
        model=model,
        input=[{"role": "user", "content": [{"type": "input_text", "text": m}, part]}],  # type: ignore[list-item]
    )
    path, body = sent(r, m)
    if path.endswith("/chat/completions"):
        image = body["messages"][0]["content"][1]["image_url"]
        assert image.get("detail") == sent_as, image
    else:
        assert "detail" not in str(body["messages"][0]["content"][1])


def test_an_unknown_image_detail_is_a_400(r: Rig) -> None:
    part = {"type": "input_image", "image_url": PNG_URL, "detail": "ultra"}
    bad(r, {"model": "oa-1", "input": [{"role": "user", "content": [part]}]},
        "input[0].content[0].detail")  # fmt: skip


@pytest.mark.parametrize("content", ["", []])
def test_an_empty_assistant_turn_reaches_an_openai_model_as_a_string(r: Rig, content: Any) -> None:
    """OpenAI requires an assistant message's content unless it has tool calls: an empty turn
    was sent as `content: null` (a 400 at OpenAI). A Response with an empty message item (an
    Anthropic model's refusal, below) fed back as the next request's input is one."""
    m = mark()
    r.client.responses.create(
        model="oa-1",
        input=[{"role": "user", "content": "a"}, {"role": "assistant", "content": content},
               {"role": "user", "content": m}],  # type: ignore[list-item]
    )  # fmt: skip
    _, body = sent(r, m)
    assert body["messages"][1] == {"role": "assistant", "content": ""}, body["messages"]


def test_an_empty_response_fed_back_to_an_openai_model(r: Rig) -> None:
    first = r.client.responses.create(model="an-1", input=mark("refusal"))
    assert [o.type for o in first.output] == ["message"]
    m = mark()
    r.client.responses.create(
        model="oa-1",
        input=[{"role": "user", "content": "a"}, *first.output, {"role": "user", "content": m}],  # type: ignore[list-item]
    )
    _, body = sent(r, m)
    assert [x.get("content") is not None for x in body["messages"]] == [True, True, True]


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstreams_400_names_the_callers_field(r: Rig, stream: bool) -> None:
    """The OpenAI upstream refused the Chat Completions view naming `messages[0]`: the
    Responses caller sent no `messages`, so its 400 names `input`."""
    resp = r.raw("/v1/responses", {"model": "oa-1", "input": mark("bad400"), "stream": stream})
    assert resp.status_code == 400, resp.text[:300]
    err = resp.json()["error"]
    assert err["param"] == "input" and err["type"] == "invalid_request_error", err


@pytest.mark.parametrize(
    ("view", "caller"),
    [
        ("messages[3].content", "input"), ("max_completion_tokens", "max_output_tokens"),
        ("response_format.json_schema", "text.format"), ("reasoning_effort", "reasoning.effort"),
        ("tools[1].function.parameters", "tools[1].parameters"), ("tools[0].function", "tools[0]"),
        ("tool_choice.function.name", "tool_choice.name"), ("temperature", "temperature"),
        (None, None),
    ],
)  # fmt: skip
def test_view_fields_in_the_callers_words(view: str | None, caller: str | None) -> None:
    assert caller_param(view) == caller


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/responses", {"input": "hi", "max_output_tokens": 10**9}, "max_output_tokens"),
        ("/v1/responses", {"input": "hi " * 40_000, "max_output_tokens": 5}, "input"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "max_tokens": 10**9}, "max_tokens"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi " * 40_000}]},
         "messages"),
    ],
)  # fmt: skip
def test_auto_past_every_models_window_names_what_to_lower(
    r: Rig, path: str, body: dict[str, Any], param: str
) -> None:
    """As for a named model: `auto`'s refusal (every model's window listed) named no field."""
    before = len(r.recorder.seen)
    resp = r.raw(path, {"model": "auto", **body})
    assert resp.status_code == 400, resp.text[:300]
    err = resp.json()["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == param, err
    assert "context window 32000" in err["message"], err
    assert len(r.recorder.seen) == before
