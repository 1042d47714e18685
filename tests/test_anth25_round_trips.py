"""anth25: what the anthropic SDK sends and reads round-tripped through a real `arbiter serve`
(probe22a's rig) to an Anthropic-protocol model and, routed, to an OpenAI-protocol one; cases
that held, kept because no other test pins them: a streamed thinking block's signature handed
back unchanged next turn (thinking and redacted_thinking), `auto` with thinking routed to the
Anthropic model alone; a tool call's streamed JSON split inside a `\\u` escape and a surrogate
pair, relayed and translated; each stop reason Anthropic names, whole and streamed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.probe22a_rig import (
    Reply,
    Rig,
    blocks_as_events,
    chat_frames,
    message_frames,
    message_whole,
    rig,
)

_n = itertools.count()
THINKING = {"type": "enabled", "budget_tokens": 1024}
THOUGHTS = [
    {"type": "thinking", "thinking": "let me see", "signature": "EqQBCkgIARABGAIiQ+/=="},
    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
]
TOOLS: list[Any] = [{"name": "w", "input_schema": {"type": "object"}}]
# the arguments' JSON cut inside "\u00fc" and between a surrogate pair's two escapes
ARGS = '{"city": "Z\\u00fcrich \\ud83d\\ude00", "n": 1}'
PIECES = [ARGS[:14], ARGS[14:17], ARGS[17:30], ARGS[30:36], ARGS[36:]]


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("anth25_rt"))) as made:
        yield made


def script(r: Rig, fn: Any) -> tuple[str, str]:
    name = f"rt{next(_n)}"
    return name, r.script(name, fn)


def test_streamed_thinking_goes_back_unchanged(r: Rig) -> None:
    content = [*THOUGHTS, {"type": "text", "text": "hi"}]

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), "end_turn"))
        return Reply(message_whole([{"type": "text", "text": "again"}], "end_turn"))

    name, mark = script(r, fn)
    kw: dict[str, Any] = {"max_tokens": 2048, "thinking": THINKING}
    with r.an.messages.stream(
        model="an-1", messages=[{"role": "user", "content": mark}], **kw
    ) as s:
        kinds = {e.type for e in s}
        final = s.get_final_message()
    assert {"thinking", "signature"} <= kinds  # the SDK's own events for the two deltas
    shown = [b.model_dump(exclude_none=True) for b in final.content]
    assert shown == [*THOUGHTS, {"type": "text", "text": "hi"}]
    for model in ("an-1", "auto"):  # auto: thinking keeps the OpenAI model out
        turn = [{"role": "user", "content": mark}, {"role": "assistant", "content": final.content},
                {"role": "user", "content": f"and {model}?"}]  # fmt: skip
        raw = r.an.messages.with_raw_response.create(model=model, messages=turn, **kw)
        assert raw.headers["x-arbiter-model"] == "an-1"
        path, sent = r.upstream.bodies(name)[-1]
        assert path == "/v1/messages" and sent["thinking"] == THINKING
        assert sent["messages"][1]["content"] == shown  # each block as it was shown


def _relayed_pieces(path: str, body: dict[str, Any]) -> Reply:
    opened = {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}
    events: list[dict[str, Any]] = [
        {"type": "content_block_start", "index": 0, "content_block": opened}
    ]
    events += [
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "input_json_delta", "partial_json": p}}
        for p in PIECES
    ]  # fmt: skip
    events.append({"type": "content_block_stop", "index": 0})
    return Reply(frames=message_frames(events, "tool_use"))


def _translated_pieces(path: str, body: dict[str, Any]) -> Reply:
    first = {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "w", "arguments": PIECES[0]}}  # fmt: skip
    deltas: list[dict[str, Any]] = [{"role": "assistant", "tool_calls": [first]}]
    deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in PIECES[1:]]
    return Reply(frames=chat_frames(deltas, "tool_calls"))


@pytest.mark.parametrize(("model", "fn"), [("an-1", _relayed_pieces), ("oa-1", _translated_pieces)])
def test_tool_json_split_inside_an_escape(r: Rig, model: str, fn: Any) -> None:
    _, mark = script(r, fn)
    with r.an.messages.stream(
        model=model, max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": mark}]
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    (call,) = final.content
    assert call.type == "tool_use" and call.name == "w"
    assert call.input == {"city": "Zürich \U0001f600", "n": 1}


STOPS = [("end_turn", None), ("max_tokens", None), ("stop_sequence", "END"),
         ("tool_use", None), ("pause_turn", None), ("refusal", None),
         ("model_context_window_exceeded", None)]  # fmt: skip


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("stop", "sequence"), STOPS)
def test_every_stop_reason_reaches_the_sdk(
    r: Rig, stop: str, sequence: str | None, stream: bool
) -> None:
    content = [{"type": "text", "text": "t"}]
    if stop == "tool_use":
        content.append({"type": "tool_use", "id": "toolu_2", "name": "w", "input": {}})

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            events = blocks_as_events(content)
            return Reply(frames=message_frames(events, stop, stop_sequence=sequence))
        return Reply(message_whole(content, stop, stop_sequence=sequence))

    _, mark = script(r, fn)
    kw: dict[str, Any] = {"model": "an-1", "max_tokens": 100, "tools": TOOLS,
                          "stop_sequences": ["END"],
                          "messages": [{"role": "user", "content": mark}]}  # fmt: skip
    if stream:
        with r.an.messages.stream(**kw) as s:
            final = s.get_final_message()
    else:
        final = r.an.messages.create(**kw)
    assert (final.stop_reason, final.stop_sequence) == (stop, sequence)
    assert [b.type for b in final.content] == [b["type"] for b in content]
