"""probe22a: the official openai SDK's Responses API across protocols: to an Anthropic
upstream (an-1: thinking, parallel calls, stop reasons, tool_choice, tool outputs) and to an
OpenAI chat upstream (oa-1: a streamed call whose name comes late), whole and streamed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.probe22a_rig import (
    PRICE_IN,
    PRICE_OUT,
    Reply,
    Rig,
    blocks_as_events,
    chat_frames,
    message_frames,
    message_whole,
    rig,
)
from tests.test_probe22a_an_client import LATE_NAME, _legacy

_n = itertools.count()
TOOLS: list[Any] = [
    {"type": "function", "name": "get_w", "description": "weather",
     "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}},
    {"type": "function", "name": "get_t", "parameters": {"type": "object"}},
]  # fmt: skip
CONTENT = [
    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
    {"type": "text", "text": "Looking."},
    {"type": "tool_use", "id": "toolu_1", "name": "get_w", "input": {"q": 1}},
    {"type": "tool_use", "id": "toolu_2", "name": "get_t", "input": {}},
]


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("p22a_resp"))) as made:
        yield made


def mark(r: Rig, fn: Any = None) -> tuple[str, str]:
    name = f"r{next(_n)}"
    return name, (r.script(name, fn) if fn else f"[[p:{name}]]")


def whole(content: list[dict[str, Any]], stop: str) -> Any:
    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), stop))
        return Reply(message_whole(content, stop))

    return fn


def outputs(out: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for item in out.output:
        if item.type == "function_call":
            seen.append(("call", (item.call_id, item.name, item.arguments)))
        elif item.type == "message":
            seen.append(("text", "".join(p.text for p in item.content if p.type == "output_text")))
        else:
            seen.append((item.type, None))
    return seen


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_text_and_two_calls(r: Rig, stream: bool) -> None:
    _, m = mark(r, whole(CONTENT, "tool_use"))
    if stream:
        with r.oa.responses.stream(model="an-1", input=m, tools=TOOLS) as s:
            list(s)
            out = s.get_final_response()
    else:
        out = r.oa.responses.create(model="an-1", input=m, tools=TOOLS)
    assert out.status == "completed"
    assert outputs(out) == [
        ("reasoning", None),
        ("text", "Looking."),
        ("call", ("toolu_1", "get_w", '{"q":1}')),
        ("call", ("toolu_2", "get_t", "{}")),
    ]
    assert out.usage is not None
    assert (out.usage.input_tokens, out.usage.output_tokens) == (11, 7)


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("model_context_window_exceeded", "incomplete", "max_output_tokens"),
        ("refusal", "incomplete", "content_filter"),
        ("end_turn", "completed", None),
    ],
)
def test_stop_reasons(r: Rig, stop: str, status: str, reason: str | None) -> None:
    _, m = mark(r, whole([{"type": "text", "text": "hi"}], stop))
    out = r.oa.responses.create(model="an-1", input=m)
    assert out.status == status
    assert (out.incomplete_details.reason if out.incomplete_details else None) == reason


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "name": "get_t"}, {"type": "tool", "name": "get_t"}),
    ],
)
def test_tool_choice(r: Rig, choice: Any, sent: Any) -> None:
    name, m = mark(r)
    r.oa.responses.create(model="an-1", input=m, tools=TOOLS, tool_choice=choice)
    assert r.upstream.one(name)[1]["tool_choice"] == sent


def test_instructions_systems_and_limits(r: Rig) -> None:
    name, m = mark(r)
    raw = r.oa.responses.with_raw_response.create(
        model="an-1", instructions="INS", temperature=1.5, max_output_tokens=33,
        input=[{"role": "system", "content": "S0"}, {"role": "user", "content": m},
               {"role": "developer", "content": "MID"}],
    )  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["system"] == [{"type": "text", "text": t} for t in ("INS", "S0", "MID")]
    assert body["temperature"] == 1.0 and body["max_tokens"] == 33
    rec = r.decision(raw.headers["x-arbiter-decision-id"])
    assert rec["cost_usd"] == pytest.approx((11 * PRICE_IN + 7 * PRICE_OUT) / 1e6)


def test_a_function_call_output_is_a_tool_result(r: Rig) -> None:
    name, m = mark(r)
    r.oa.responses.create(model="an-1", tools=TOOLS, input=[
        {"role": "user", "content": m},
        {"type": "function_call", "call_id": "call_1", "name": "get_w", "arguments": '{"q":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ])  # fmt: skip
    _, body = r.upstream.one(name)
    assert body["messages"][1:] == [
        {"role": "assistant",
         "content": [{"type": "tool_use", "id": "call_1", "name": "get_w", "input": {"q": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                      "content": [{"type": "text", "text": "sunny"}]}]},
    ]  # fmt: skip


def test_a_streamed_call_whose_name_comes_late_keeps_it(r: Rig) -> None:
    """The Responses API's function_call item carries the name from its `added` event on:
    a chat server that sent the name after the call's first fragment gave an item without
    one."""
    _, m = mark(r, lambda p, b: Reply(frames=chat_frames(LATE_NAME, "tool_calls")))
    with r.oa.responses.stream(model="oa-1", input=m, tools=TOOLS) as s:
        events = list(s)
        out = s.get_final_response()
    assert outputs(out) == [("call", ("call_z", "get_w", '{"q": 3}'))]
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [getattr(i, "name", None) for i in added] == ["get_w"]


def test_a_legacy_function_call_answer_is_a_function_call_item(r: Rig) -> None:
    _, m = mark(r, _legacy)
    out = r.oa.responses.create(model="oa-1", input=m, tools=TOOLS)
    assert [(kind, got[1:] if got else got) for kind, got in outputs(out)] == [
        ("call", ("get_w", '{"q":1}'))
    ]
