"""Outside probe (twelfth session): a streamed chat answer with `n` > 1 from an OpenAI model.
Its chunks interleave the choices (each names its `index`), and the relay kept every chunk's
text, finish reason and tool-call fragments as if they were one choice's: the decision recorded
the choices' texts spliced together ("Paris" and "Lyon" as "PaLyris on"), the graders and the
judge read that garble, the finish reason was whichever choice ended last, and two choices'
first tool calls (both index 0) were merged into one call with both argument texts. The relay
now keeps each choice apart: the recorded text, finish and calls are the first choice's, and the
graders get every choice (as a non-streamed answer's), through `choices_body`. The bytes relayed
to the client are unchanged."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.answer_choices import choices_of
from arbiter.relay_codec import OpenAIPassThrough


def _chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})


def _call(name: str | None, args: str) -> dict[str, Any]:
    fn: dict[str, Any] = {"arguments": args} | ({"name": name} if name else {})
    return {"tool_calls": [{"index": 0, "function": fn} | ({"id": f"call_{name}"} if name else {})]}


def test_interleaved_choices_are_kept_apart() -> None:
    codec = OpenAIPassThrough("m", include_usage=False)
    chunks = [
        _chunk(0, {"role": "assistant", "content": "Pa"}),
        _chunk(1, {"role": "assistant", "content": "Ly"}),
        _chunk(0, {"content": "ris"}),
        _chunk(1, {"content": "on"}),
        _chunk(1, {}, "length"),
        _chunk(0, {}, "stop"),
    ]
    relayed = [codec.feed(c) for c in chunks]
    assert relayed == [b"data: " + c + b"\n\n" for c in chunks], "the client's bytes unchanged"
    assert "".join(codec.parts) == "Paris"
    assert codec.finish == "stop"
    body = codec.choices_body()
    assert body is not None
    found = choices_of(body, "openai")
    assert [(c.text, c.finish_reason) for c in found] == [("Paris", "stop"), ("Lyon", "length")]


def test_each_choice_keeps_its_own_tool_calls() -> None:
    codec = OpenAIPassThrough("m", include_usage=False)
    for c in [
        _chunk(0, _call("get_weather", '{"city": ')),
        _chunk(1, _call("get_time", '{"zone": ')),
        _chunk(0, _call(None, '"Paris"}')),
        _chunk(1, _call(None, '"CET"}')),
        _chunk(0, {}, "tool_calls"),
        _chunk(1, {}, "tool_calls"),
    ]:
        codec.feed(c)
    first = codec.calls.calls()
    assert [(c.name, c.arguments) for c in first] == [("get_weather", '{"city": "Paris"}')]
    body = codec.choices_body()
    assert body is not None
    calls = [[(t.name, t.arguments) for t in c.tool_calls] for c in choices_of(body, "openai")]
    assert calls == [[("get_weather", '{"city": "Paris"}')], [("get_time", '{"zone": "CET"}')]]


def test_one_choice_has_no_separate_body() -> None:
    codec = OpenAIPassThrough("m", include_usage=False)
    codec.feed(_chunk(0, {"content": "Paris"}))
    codec.feed(_chunk(0, {}, "stop"))
    assert "".join(codec.parts) == "Paris" and codec.choices_body() is None
