"""probe22a: the official openai SDK's chat completions routed to an Anthropic-protocol upstream
(an-1), checked against what OpenAI itself would give: the body Anthropic receives, the typed
answer, the stop reasons, the books."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.probe22a_rig import (
    PRICE_CACHE_READ,
    PRICE_CACHE_WRITE,
    PRICE_IN,
    PRICE_OUT,
    Reply,
    Rig,
    blocks_as_events,
    message_frames,
    message_whole,
    rig,
    sse,
)

_n = itertools.count()
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_w", "description": "weather",
     "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "get_t", "parameters": {"type": "object"}}},
]  # fmt: skip


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("p22a_oa"))) as made:
        yield made


def mark(r: Rig, fn: Any = None) -> tuple[str, str]:
    name = f"o{next(_n)}"
    return name, (r.script(name, fn) if fn else f"[[p:{name}]]")


def whole(content: list[dict[str, Any]], stop: str, usage: tuple[int, int] = (11, 7)) -> Any:
    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), stop, usage))
        return Reply(message_whole(content, stop, usage))

    return fn


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_t"}}, {"type": "tool", "name": "get_t"}),
    ],
)
def test_tool_choice_reaches_anthropic(r: Rig, choice: Any, sent: dict[str, Any]) -> None:
    name, m = mark(r)
    r.oa.chat.completions.create(
        model="an-1", messages=[{"role": "user", "content": m}], tools=TOOLS, tool_choice=choice
    )
    _, body = r.upstream.one(name)
    assert body.get("tool_choice", {"type": "auto"}) == sent
    assert [t["name"] for t in body["tools"]] == ["get_w", "get_t"]


def test_parallel_tool_calls_false(r: Rig) -> None:
    name, m = mark(r)
    r.oa.chat.completions.create(
        model="an-1", messages=[{"role": "user", "content": m}], tools=TOOLS,
        parallel_tool_calls=False,
    )  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


TWO_CALLS = [
    {"type": "text", "text": "Looking."},
    {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": {"q": 1}},
    {"type": "tool_use", "id": "toolu_2", "name": "get_t", "input": {}},
]


def test_parallel_calls_come_back_as_tool_calls(r: Rig) -> None:
    _, m = mark(r, whole(TWO_CALLS, "tool_use"))
    raw = r.oa.chat.completions.with_raw_response.create(
        model="an-1", messages=[{"role": "user", "content": m}], tools=TOOLS
    )
    out = raw.parse()
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Looking."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("toolu_1", "get_w", '{"q":1}'),
        ("toolu_2", "get_t", "{}"),
    ] or [(c.id, c.function.name) for c in calls] == [("toolu_1", "get_w"), ("toolu_2", "get_t")]

    assert [json.loads(c.function.arguments) for c in calls] == [{"q": 1}, {}]
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (11, 7)
    rec = r.decision(raw.headers["x-arbiter-decision-id"])
    assert rec["cost_usd"] == pytest.approx((11 * PRICE_IN + 7 * PRICE_OUT) / 1e6)


def test_streamed_text_and_two_calls(r: Rig) -> None:
    _, m = mark(r, whole(TWO_CALLS, "tool_use"))
    chunks = list(
        r.oa.chat.completions.create(
            model="an-1", messages=[{"role": "user", "content": m}], tools=TOOLS, stream=True,
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Looking."
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            slot = calls.setdefault(d.index, {"id": "", "name": "", "args": ""})
            if d.id:
                assert not slot["id"], "the id comes once"
                slot["id"] = d.id
            if d.function and d.function.name:
                slot["name"] += d.function.name
            if d.function and d.function.arguments:
                slot["args"] += d.function.arguments
    assert sorted(calls) == [0, 1]  # OpenAI's tool_call index counts calls, not blocks
    assert calls[0]["id"] == "toolu_1" and calls[0]["name"] == "get_w"
    assert calls[1]["id"] == "toolu_2" and calls[1]["name"] == "get_t"

    assert json.loads(calls[0]["args"]) == {"q": 1}
    assert json.loads(calls[1]["args"] or "{}") == {}
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7


def create(r: Rig, m: str, **kw: Any) -> Any:
    kw.setdefault("messages", [{"role": "user", "content": m}])
    return r.oa.chat.completions.create(model="an-1", **kw)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("stop_sequence", "stop"),
        ("end_turn", "stop"),
        ("pause_turn", "stop"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_stop_reasons(r: Rig, stop: str, finish: str, stream: bool) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": "hi"}]
    if stop == "tool_use":
        content.append({"type": "tool_use", "id": "toolu_s", "name": "get_w", "input": {}})
    _, m = mark(r, whole(content, stop))
    if stream:
        chunks = list(create(r, m, stream=True, tools=TOOLS))
        got = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        assert got == [finish]
    else:
        assert create(r, m, tools=TOOLS).choices[0].finish_reason == finish


THINKING = [
    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
    {"type": "redacted_thinking", "data": "opaque"},
    {"type": "text", "text": "answer"},
]


def test_thinking_blocks_are_not_shown_as_the_answer(r: Rig) -> None:
    _, m = mark(r, whole(THINKING, "end_turn"))
    message = create(r, m).choices[0].message
    assert message.content == "answer" and message.tool_calls is None
    chunks = list(create(r, m + " s", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "answer"


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"n": 2}, "n > 1"),
        ({"stop": list("abcde")}, "at most 4"),
        ({"stop": ["", "x"]}, "whitespace-only stop"),
        ({"stop": ["\n"]}, "whitespace-only stop"),
        ({"max_tokens": 10, "max_completion_tokens": 20}, "at the same time"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ],
)
def test_what_anthropic_cannot_carry_is_a_clear_400(r: Rig, kw: Any, says: str) -> None:
    """Refused before any call, in OpenAI's shape (the SDK's BadRequestError), never a call
    Anthropic would refuse after routing nor a silently dropped parameter that changes the
    answer's shape."""
    name, m = mark(r)
    with pytest.raises(openai.BadRequestError, match=says) as info:
        create(r, m, **kw)
    assert info.value.status_code == 400
    assert r.upstream.bodies(name) == []


def test_temperature_past_anthropics_range_is_its_maximum(r: Rig) -> None:
    name, m = mark(r)
    create(r, m, temperature=1.5, top_p=0.9)
    _, body = r.upstream.one(name)
    assert body["temperature"] == 1.0 and body["top_p"] == 0.9


def test_max_tokens_defaults_and_names(r: Rig) -> None:
    for kw, sent in (({}, 1024), ({"max_tokens": 33}, 33), ({"max_completion_tokens": 44}, 44)):
        name, m = mark(r)
        create(r, m, **kw)
        assert r.upstream.one(name)[1]["max_tokens"] == sent


def test_system_messages_anywhere_become_anthropics_system(r: Rig) -> None:
    name, m = mark(r)
    create(r, m, messages=[
        {"role": "system", "content": "S1"},
        {"role": "developer", "content": [{"type": "text", "text": "S2"}]},
        {"role": "user", "content": m},
        {"role": "assistant", "content": "A"},
        {"role": "system", "content": "MID"},
        {"role": "user", "content": "again"},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["system"] == [{"type": "text", "text": t} for t in ("S1", "S2", "MID")]
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]


def test_images_url_and_base64_with_detail(r: Rig) -> None:
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5E"
        "rkJggg=="
    )
    name, m = mark(r)
    create(r, m, messages=[{"role": "user", "content": [
        {"type": "text", "text": m},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}",
                                            "detail": "high"}},
    ]}])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
    ]


def test_tool_results_as_arrays_of_blocks(r: Rig) -> None:
    name, m = mark(r)
    create(r, m, tools=TOOLS, messages=[
        {"role": "user", "content": m},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_w", "arguments": '{"q":1}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_t", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1",
         "content": [{"type": "text", "text": "r1"}, {"type": "text", "text": "r1b"}]},
        {"role": "tool", "tool_call_id": "c2", "content": "r2"},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "get_w", "input": {"q": 1}},
        {"type": "tool_use", "id": "c2", "name": "get_t", "input": {}},
    ]
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1",
         "content": [{"type": "text", "text": "r1"}, {"type": "text", "text": "r1b"}]},
        {"type": "tool_result", "tool_use_id": "c2", "content": [{"type": "text", "text": "r2"}]},
    ]}  # fmt: skip


def test_user_becomes_metadata_user_id(r: Rig) -> None:
    name, m = mark(r)
    create(r, m, user="u1", metadata={"a": "b"}, store=False)
    _, body = r.upstream.one(name)
    assert body["metadata"] == {"user_id": "u1"}


@pytest.mark.parametrize("surface", ["chat", "responses"])
def test_a_long_user_fits_anthropics_user_id(r: Rig, surface: str) -> None:
    """OpenAI sets no bound on `user`; Anthropic refuses a metadata.user_id past 256
    characters (its 400 after routing, for a request the client sent right). An opaque id of
    the user that fits goes instead: the same user, the same id."""
    ids = []
    for _ in range(2):
        name, m = mark(r)
        if surface == "chat":
            create(r, m, user="u" * 300)
        else:
            r.oa.responses.create(model="an-1", input=m, user="u" * 300)
        user_id = r.upstream.one(name)[1]["metadata"]["user_id"]
        assert 0 < len(user_id) <= 256
        ids.append(user_id)
    assert ids[0] == ids[1]


def _err(status: int, kind: str, headers: dict[str, str] | None = None) -> Any:
    body = {"type": "error", "error": {"type": kind, "message": f"upstream said {kind}"}}
    return lambda p, b: Reply(body, status=status, headers=headers or {})


@pytest.mark.parametrize(
    ("status", "kind", "cls", "seen"),
    [
        (400, "invalid_request_error", openai.BadRequestError, 400),
        (413, "request_too_large", openai.APIStatusError, 413),
        (429, "rate_limit_error", openai.RateLimitError, 429),
        (529, "overloaded_error", openai.InternalServerError, 503),
        (500, "api_error", openai.InternalServerError, 503),
        (401, "authentication_error", openai.InternalServerError, 503),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_in_openai_shape(
    r: Rig, status: int, kind: str, cls: type, seen: int, stream: bool
) -> None:
    """Anthropic's error reaches the OpenAI client in OpenAI's shape with the class the SDK
    raises for that status and the Retry-After; the sidecar's own credentials refused (401)
    are not the client's 401."""
    _, m = mark(r, _err(status, kind, {"retry-after": "1"} if status == 429 else None))
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            one = [{"role": "user", "content": m}]
            list(r.oa.chat.completions.create(model="an-2", stream=True, messages=one))
        else:
            r.oa.chat.completions.create(model="an-2", messages=[{"role": "user", "content": m}])
    e = info.value
    assert type(e) is cls and e.status_code == seen
    assert isinstance(e.body, dict) and set(e.body) >= {"message", "type", "code"}
    if status == 429:
        assert e.response.headers["retry-after"] == "1"
        time.sleep(1.1)  # an-2's pause over for the next cell


def test_an_error_mid_stream_raises_after_the_text(r: Rig) -> None:
    events = blocks_as_events([{"type": "text", "text": "par"}])[:2]
    frames = message_frames(events, "end_turn")[:3]
    error = {"type": "overloaded_error", "message": "Overloaded"}
    frames.append(sse("error", {"type": "error", "error": error}))
    _, m = mark(r, lambda p, b: Reply(frames=frames))
    text = ""
    with pytest.raises(openai.APIError, match="overloaded"):
        one = [{"role": "user", "content": m}]
        for c in r.oa.chat.completions.create(model="an-2", stream=True, messages=one):
            text += (c.choices[0].delta.content or "") if c.choices else ""
    assert text == "par"


@pytest.mark.parametrize("text", ["a\u0000b", "\u202eabc \u05e9\u05dc\u05d5\u05dd", "\U0001f600"])
def test_unicode_both_ways(r: Rig, text: str) -> None:
    _, m = mark(r, whole([{"type": "text", "text": text}], "end_turn"))
    name = m[4:-2]
    assert create(r, m + " " + text).choices[0].message.content == text
    assert r.upstream.one(name)[1]["messages"][0]["content"][0]["text"] == m + " " + text


@pytest.mark.parametrize("escape", ["\\ud800 x", "a \\udc00"])
def test_a_lone_surrogate_is_a_clear_400(r: Rig, escape: str) -> None:
    name, m = mark(r)
    raw = ('{"model":"an-1","messages":[{"role":"user","content":"' + m + escape + '"}]}').encode()
    resp = httpx.post(r.sidecar.base_url + "/chat/completions", content=raw, timeout=20,
                      headers={"authorization": f"Bearer {r.key}",
                               "content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert r.upstream.bodies(name) == []


def test_a_one_megabyte_message(r: Rig) -> None:
    name, m = mark(r)
    big = "word " * 210_000
    assert create(r, m + big).choices[0].message.content == "ok"
    assert len(r.upstream.one(name)[1]["messages"][0]["content"][0]["text"]) == len(m + big)


@pytest.mark.parametrize("arguments", ['{"q": 1', "[1,2]", "null", '{"q":1}{"q":2}'])
def test_a_call_with_broken_arguments_in_the_history(r: Rig, arguments: str) -> None:
    """OpenAI takes a conversation back with the model's own broken tool arguments (the usual
    recovery: the tool's error result, then the model tries again). It went to Anthropic as
    no request at all (a 400 naming the call); the arguments go as the text they were, under
    `_raw`, as a translated answer shows such a call to an Anthropic client."""
    name, m = mark(r)
    fn = {"name": "get_w", "arguments": arguments}
    create(r, m, tools=TOOLS, messages=[
        {"role": "user", "content": m},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": fn}]},
        {"role": "tool", "tool_call_id": "c1", "content": "error: the arguments are not JSON"},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "get_w", "input": {"_raw": arguments}}
    ]


def test_safety_identifier_becomes_metadata_user_id(r: Rig) -> None:
    """OpenAI's successor of `user` names the same end user: it was dropped on the way to
    Anthropic, while `user` was carried. `user` wins when both are given."""
    name, m = mark(r)
    create(r, m, safety_identifier="sid-1")
    assert r.upstream.one(name)[1]["metadata"] == {"user_id": "sid-1"}
    name, m = mark(r)
    create(r, m, safety_identifier="sid-1", user="u-1")
    assert r.upstream.one(name)[1]["metadata"] == {"user_id": "u-1"}


def _cached(path: str, body: dict[str, Any]) -> Reply:
    usage = {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 100,
             "cache_creation_input_tokens": 20}  # fmt: skip
    if body.get("stream"):
        frames = message_frames(blocks_as_events([{"type": "text", "text": "hi"}]), "end_turn")
        start = {**message_whole([], None), "usage": {**usage, "output_tokens": 1}}
        frames[0] = sse("message_start", {"type": "message_start", "message": start})
        return Reply(frames=frames)
    return Reply({**message_whole([{"type": "text", "text": "hi"}], "end_turn"), "usage": usage})


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_counts_shown_and_billed(r: Rig, stream: bool) -> None:
    """OpenAI's prompt_tokens counts every input token, cached_tokens the cache reads; the
    bill prices reads and writes at their own prices."""
    _, m = mark(r, _cached)
    one = [{"role": "user", "content": m}]
    if stream:
        raw = r.oa.chat.completions.with_raw_response.create(
            model="an-1", messages=one, stream=True, stream_options={"include_usage": True}
        )
        usage = list(raw.parse())[-1].usage
    else:
        raw = r.oa.chat.completions.with_raw_response.create(model="an-1", messages=one)
        usage = raw.parse().usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (125, 7)
    assert usage.prompt_tokens_details.cached_tokens == 100
    rec = r.decision(raw.headers["x-arbiter-decision-id"])
    expected = 5 * PRICE_IN + 100 * PRICE_CACHE_READ + 20 * PRICE_CACHE_WRITE + 7 * PRICE_OUT
    assert rec["cost_usd"] == pytest.approx(expected / 1e6)
