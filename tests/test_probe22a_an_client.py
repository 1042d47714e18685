"""probe22a: the official anthropic SDK's /v1/messages routed to an OpenAI-protocol upstream
(oa-1), checked against what Anthropic itself would give: the body the OpenAI server receives,
the typed Message, stop reasons, streams, errors and the books."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.probe22a_rig import (
    PRICE_CACHE_READ,
    PRICE_IN,
    PRICE_OUT,
    Reply,
    Rig,
    chat_frames,
    chat_whole,
    rig,
    sse,
)

_n = itertools.count()
TOOLS: list[Any] = [
    {"name": "get_w", "description": "weather",
     "input_schema": {"type": "object", "properties": {"q": {"type": "integer"}}}},
    {"name": "get_t", "input_schema": {"type": "object"}},
]  # fmt: skip
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
    "rkJggg=="
)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("p22a_an"))) as made:
        yield made


def mark(r: Rig, fn: Any = None) -> tuple[str, str]:
    name = f"a{next(_n)}"
    return name, (r.script(name, fn) if fn else f"[[p:{name}]]")


def chat(message: dict[str, Any], finish: str, usage: dict[str, Any] | None = None) -> Any:
    """An OpenAI answer, whole or streamed (the message's fields as one delta)."""

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            delta = {"role": "assistant", **{k: v for k, v in message.items() if v is not None}}
            for i, call in enumerate(delta.get("tool_calls", [])):
                call["index"] = i
            frames = chat_frames([delta], finish)
            if usage is not None:
                frames[-2] = sse(None, {"id": "c", "object": "chat.completion.chunk",
                                        "created": 1, "model": "m", "choices": [],
                                        "usage": usage})  # fmt: skip
            return Reply(frames=frames)
        answer = chat_whole(message, finish)
        if usage is not None:
            answer["usage"] = usage
        return Reply(answer)

    return fn


def create(r: Rig, m: str, **kw: Any) -> Any:
    kw.setdefault("max_tokens", 50)
    kw.setdefault("messages", [{"role": "user", "content": m}])
    return r.an.messages.create(model="oa-1", **kw)


def answer(r: Rig, m: str, stream: bool, **kw: Any) -> Any:
    """oa-1's message for `m` through the Anthropic SDK: whole, or (`stream`) its stream's
    final message, the stream read to the end."""
    if not stream:
        return create(r, m, **kw)
    with r.an.messages.stream(
        model="oa-1", max_tokens=50, messages=[{"role": "user", "content": m}], **kw
    ) as s:
        list(s)
        return s.get_final_message()


@pytest.mark.parametrize(
    ("choice", "sent", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        ({"type": "tool", "name": "get_t"}, {"type": "function", "function": {"name": "get_t"}},
         None),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", False),
    ],
)  # fmt: skip
def test_tool_choice_reaches_openai(r: Rig, choice: Any, sent: Any, parallel: Any) -> None:
    name, m = mark(r)
    create(r, m, tools=TOOLS, tool_choice=choice)
    _, body = r.upstream.one(name)
    assert body["tool_choice"] == sent and body.get("parallel_tool_calls") == parallel
    assert [t["function"]["name"] for t in body["tools"]] == ["get_w", "get_t"]


def test_system_blocks_metadata_and_stops(r: Rig) -> None:
    name, m = mark(r)
    create(
        r, m, metadata={"user_id": "u9"}, stop_sequences=["a", "b", "c", "d"],
        system=[{"type": "text", "text": "S1"},
                {"type": "text", "text": "S2", "cache_control": {"type": "ephemeral"}}],
    )  # fmt: skip
    path, body = r.upstream.one(name)
    assert path == "/v1/chat/completions"
    assert body["messages"][:2] == [
        {"role": "system", "content": "S1"},
        {"role": "system", "content": "S2"},
    ]
    assert body["stop"] == ["a", "b", "c", "d"] and body["user"] == "u9"
    assert body["max_completion_tokens"] == 50


def test_more_stop_sequences_than_openai_takes_is_a_clear_400(r: Rig) -> None:
    name, m = mark(r)
    with pytest.raises(anthropic.BadRequestError, match="more than 4 stop_sequences"):
        create(r, m, stop_sequences=list("abcde"))
    assert r.upstream.bodies(name) == []


def test_thinking_to_an_openai_model_is_a_clear_400(r: Rig) -> None:
    name, m = mark(r)
    with pytest.raises(anthropic.BadRequestError, match="thinking"):
        create(r, m, max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024})
    assert r.upstream.bodies(name) == []


def test_tool_results_with_an_image_and_blocks(r: Rig) -> None:
    name, m = mark(r)
    msgs: list[Any] = [
        {"role": "user", "content": m},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": {"q": 1}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_t", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "r1"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}}]},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "bad"}]},
            {"type": "text", "text": "and?"}]},
    ]  # fmt: skip
    out = create(r, m, messages=msgs, tools=TOOLS)
    assert out.content[0].type == "text"
    _, body = r.upstream.one(name)
    sent = body["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_w", "arguments": '{"q":1}'}
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "r1"}
    assert sent[3]["role"] == "tool" and "bad" in sent[3]["content"]
    images = [p for p in sent[4]["content"] if p["type"] == "image_url"]  # after the results
    assert images == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    assert sent[4]["content"][-1] == {"type": "text", "text": "and?"}


def test_images_url_and_base64(r: Rig) -> None:
    name, m = mark(r)
    create(r, m, messages=[{"role": "user", "content": [
        {"type": "text", "text": m},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]}])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][0]["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]


@pytest.mark.parametrize(
    ("message", "finish", "stop"),
    [
        ({"content": "par"}, "content_filter", "refusal"),
        ({"content": "par"}, "length", "max_tokens"),
        ({"content": None, "refusal": "I can't."}, "stop", "refusal"),
        ({"content": "par"}, "stop", "end_turn"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_stop_reasons(r: Rig, message: Any, finish: str, stop: str, stream: bool) -> None:
    _, m = mark(r, chat(dict(message), finish))
    out = answer(r, m, stream)
    assert out.stop_reason == stop
    assert [b.type for b in out.content] == ["text"]


def _tool_call(arguments: Any, name: str = "get_w") -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return {"content": None, "tool_calls": [call]}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"q": 1', {"_raw": '{"q": 1'}),
        ("", {}),
        ("[1,2]", {"_raw": "[1,2]"}),
        ('{"q":2}', {"q": 2}),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_arguments_come_back_as_an_object(
    r: Rig, arguments: str, expected: Any, stream: bool
) -> None:
    """Anthropic's tool_use.input is always an object: arguments that are not one (broken JSON
    from the model) keep their text under _raw, whole and streamed alike."""
    _, m = mark(r, chat(_tool_call(arguments), "tool_calls"))
    out = answer(r, m, stream, tools=TOOLS)
    assert out.stop_reason == "tool_use"
    (block,) = out.content
    assert block.type == "tool_use" and block.name == "get_w" and block.input == expected
    assert block.id.startswith("toolu_")


def test_interleaved_streamed_calls_become_sequential_blocks(r: Rig) -> None:
    deltas: list[Any] = [
        {"role": "assistant", "content": "Look"},
        {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                         "function": {"name": "get_w", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                         "function": {"name": "get_t", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"q"'}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ": 2}"}}]},
    ]  # fmt: skip
    _, m = mark(r, lambda p, b: Reply(frames=chat_frames(deltas, "tool_calls")))
    with r.an.messages.stream(
        model="oa-1", max_tokens=50, messages=[{"role": "user", "content": m}], tools=TOOLS
    ) as s:
        events = list(s)
        out = s.get_final_message()
    open_: set[int] = set()
    for e in events:  # Anthropic's rule: one block at a time, start, deltas, stop
        if e.type == "content_block_start":
            assert not open_
            open_.add(e.index)
        elif e.type == "content_block_delta":
            assert open_ == {e.index}
        elif e.type == "content_block_stop":
            open_.remove(e.index)
    assert [(b.type, getattr(b, "name", None), getattr(b, "input", None)) for b in out.content] == [
        ("text", None, None),
        ("tool_use", "get_w", {"q": 2}),
        ("tool_use", "get_t", {}),
    ]
    assert out.stop_reason == "tool_use"


def _status_of(r: Rig, m: str, stream: bool) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as info:
        if stream:
            list(r.an.messages.create(model="oa-2", max_tokens=9, stream=True,
                                      messages=[{"role": "user", "content": m}]))  # fmt: skip
        else:
            r.an.messages.create(model="oa-2", max_tokens=9,
                                 messages=[{"role": "user", "content": m}])  # fmt: skip
    return info.value


@pytest.mark.parametrize(
    ("status", "kind", "cls", "seen"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError, 400),
        (413, "invalid_request_error", anthropic.APIStatusError, 413),
        (429, "rate_limit_exceeded", anthropic.RateLimitError, 429),
        (500, "server_error", anthropic.InternalServerError, 529),
        (401, "invalid_api_key", anthropic.InternalServerError, 529),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_in_anthropic_shape(
    r: Rig, status: int, kind: str, cls: type, seen: int, stream: bool
) -> None:
    """The OpenAI server's error reaches the Anthropic client in Anthropic's shape: the class
    the SDK raises for that status, its Retry-After kept; the sidecar's own upstream
    credentials failing (401) are not the client's 401."""
    headers = {"retry-after": "1"} if status == 429 else {}
    err = {"error": {"message": "said", "type": kind, "param": None, "code": kind}}
    _, m = mark(r, lambda p, b: Reply(err, status=status, headers=headers))
    e = _status_of(r, m, stream)
    assert isinstance(e, cls) and e.status_code == seen
    assert isinstance(e.body, dict) and e.body["type"] == "error"
    assert e.body["error"]["type"] in {
        400: ("invalid_request_error",), 413: ("request_too_large",),
        429: ("rate_limit_error",), 529: ("overloaded_error",),
    }[seen]  # fmt: skip
    if status == 429:
        assert e.response.headers["retry-after"] == "1"
        time.sleep(1.1)  # oa-2's pause over for the next cell


def test_an_error_mid_stream_is_an_error_event(r: Rig) -> None:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    frames = [
        sse(None, {**head, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                              "content": "par"},
                                        "finish_reason": None}]}),
        sse(None, {"error": {"message": "boom", "type": "server_error", "param": None,
                             "code": None}}),
    ]  # fmt: skip
    _, m = mark(r, lambda p, b: Reply(frames=frames))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError):
        for e in r.an.messages.create(model="oa-2", max_tokens=9, stream=True,
                                      messages=[{"role": "user", "content": m}]):  # fmt: skip
            seen.append(e.type)
    assert seen[:3] == ["message_start", "content_block_start", "content_block_delta"]


@pytest.mark.parametrize("stream", [False, True])
def test_cache_reads_of_an_openai_upstream_are_billed_at_the_cache_price(
    r: Rig, stream: bool
) -> None:
    """An OpenAI server counts cached prompt tokens inside prompt_tokens
    (prompt_tokens_details.cached_tokens). The Anthropic client is shown them as
    cache_read_input_tokens; the bill must price them at price_cache_read_per_mtok as it does
    an Anthropic upstream's (they were billed at the full input price)."""
    usage = {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127,
             "prompt_tokens_details": {"cached_tokens": 100}}  # fmt: skip
    _, m = mark(r, chat({"content": "hi"}, "stop", usage))
    raw = r.an.messages.with_raw_response.create(
        model="oa-1", max_tokens=20, messages=[{"role": "user", "content": m}], stream=stream
    )
    if stream:
        events = list(raw.parse())
        final = [e.usage for e in events if e.type == "message_delta"][-1]
    else:
        final = raw.parse().usage
    assert (final.input_tokens, final.cache_read_input_tokens, final.output_tokens) == (20, 100, 7)
    rec = r.decision(raw.headers["x-arbiter-decision-id"])
    expected = (20 * PRICE_IN + 100 * PRICE_CACHE_READ + 7 * PRICE_OUT) / 1e6
    assert rec["cost_usd"] == pytest.approx(expected)


LATE_NAME: list[Any] = [  # the name after the id's fragment: OpenAI's SDK joins the pieces
    {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_z", "type": "function",
                                          "function": {"arguments": '{"q"'}}]},
    {"tool_calls": [{"index": 0, "function": {"name": "get_w", "arguments": ": 3}"}}]},
]  # fmt: skip


def test_a_streamed_call_whose_name_comes_late_keeps_it(r: Rig) -> None:
    """A server may send a call's name after its first fragment (the openai SDK joins the
    pieces, so an OpenAI client reads the call whole). The Anthropic block's start carries the
    name: it was sent empty, a tool_use no client can run."""
    _, m = mark(r, lambda p, b: Reply(frames=chat_frames(LATE_NAME, "tool_calls")))
    out = answer(r, m, True, tools=TOOLS)
    (block,) = out.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_w", {"q": 3})


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"_raw": '{"q": 1'}, '{"q": 1'),  # the text a translated answer kept, as it was
        ({"_raw": "[1,2]"}, "[1,2]"),
        ({"_raw": '{"a":1}'}, '{"_raw":"{\\"a\\":1}"}'),  # no wrapper of ours: as it came
        ({"_raw": "x", "b": 1}, '{"_raw":"x","b":1}'),
    ],
)
def test_a_call_sent_back_gives_the_model_its_own_arguments(r: Rig, given: Any, sent: str) -> None:
    name, m = mark(r)
    create(r, m, tools=TOOLS, messages=[
        {"role": "user", "content": m},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": given}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "bad", "is_error": True}]},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][1]["tool_calls"][0]["function"]["arguments"] == sent


def test_a_raw_input_to_an_anthropic_model_stays_as_it_came(r: Rig) -> None:
    name, m = mark(r)
    r.an.messages.create(model="an-1", max_tokens=9, tools=TOOLS, messages=[
        {"role": "user", "content": m},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": {"_raw": "[1"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][1]["content"][0]["input"] == {"_raw": "[1"}


def _legacy(path: str, body: dict[str, Any]) -> Reply:
    """An answer in the deprecated function_call form (finish_reason "function_call")."""
    if body.get("stream"):
        return Reply(frames=chat_frames([
            {"role": "assistant", "content": None,
             "function_call": {"name": "get_w", "arguments": ""}},
            {"function_call": {"arguments": '{"q":1}'}},
        ], "function_call"))  # fmt: skip
    call = {"name": "get_w", "arguments": '{"q":1}'}
    return Reply(chat_whole({"content": None, "function_call": call}, "function_call"))


@pytest.mark.parametrize("stream", [False, True])
def test_a_legacy_function_call_answer_is_a_tool_use(r: Rig, stream: bool) -> None:
    """stop_reason tool_use came with no tool_use block: the call was left out."""
    _, m = mark(r, _legacy)
    out = answer(r, m, stream, tools=TOOLS)
    assert out.stop_reason == "tool_use"
    (block,) = out.content
    assert (block.type, block.name, block.input) == ("tool_use", "get_w", {"q": 1})


@pytest.mark.parametrize("text", ["a\u0000b", "\u202eabc \u05e9\u05dc\u05d5\u05dd", "\U0001f600"])
def test_unicode_both_ways(r: Rig, text: str) -> None:
    name, m = mark(r, chat({"content": text}, "stop"))
    out = create(r, m + " " + text)
    assert [b.text for b in out.content if b.type == "text"] == [text]
    assert r.upstream.one(name)[1]["messages"][0]["content"][0]["text"] == m + " " + text


def test_a_lone_surrogate_is_a_400_in_anthropics_shape(r: Rig) -> None:
    name, m = mark(r)
    raw = ('{"model":"oa-1","max_tokens":5,"messages":[{"role":"user","content":"' + m
           + '\\ud800"}]}').encode()  # fmt: skip
    resp = httpx.post(r.sidecar.root_url + "/v1/messages", content=raw, timeout=20,
                      headers={"x-api-key": r.key, "anthropic-version": "2023-06-01",
                               "content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400
    assert resp.json()["type"] == "error"
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert r.upstream.bodies(name) == []


def test_a_one_megabyte_message_streamed(r: Rig) -> None:
    name, m = mark(r)
    big = "word " * 210_000
    events = list(create(r, m + big, stream=True))
    assert events[-1].type == "message_stop"
    assert len(r.upstream.one(name)[1]["messages"][0]["content"][0]["text"]) == len(m + big)


def test_a_results_text_blocks_keep_their_boundary(r: Rig) -> None:
    """Two text blocks of a tool_result ("42", "17": an MCP tool's lines) reached the OpenAI
    model as "4217"."""
    name, m = mark(r)
    create(r, m, tools=TOOLS, messages=[
        {"role": "user", "content": m},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "42"}, {"type": "text", "text": "17"}]}]},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "42\n17"}
