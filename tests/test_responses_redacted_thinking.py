"""A redacted_thinking block (or a thinking block with no text) from an Anthropic upstream, for a
/v1/responses client that did not ask `include: ["reasoning.encrypted_content"]`: its item would
say nothing (an empty `reasoning_text`, no `encrypted_content`), so it is left out, whole and
streamed, the output indexes staying dense. With the include it is kept, its data carried as
`encrypted_content` (OpenAI's field for opaque reasoning state), as before."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)
from arbiter.protocols.openai_responses import decode_request
from arbiter.protocols.openai_responses_object import encode_response
from arbiter.protocols.openai_responses_stream import StreamEncoder
from arbiter.protocols.upstream_answer import decode_answer
from tests.openapi_spec import validate

MESSAGE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "an",
    "content": [
        {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
        {"type": "thinking", "thinking": "Plan.", "signature": "sig"},
        {"type": "text", "text": "Done."},
    ],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 30},
}  # fmt: skip
INCLUDE = ["reasoning.encrypted_content"]


def _echo(include: list[str]) -> Any:
    return decode_request({"model": "m", "input": "hi", "include": include})[1]


@pytest.mark.parametrize("include", [[], INCLUDE], ids=["plain", "include"])
def test_the_whole_response(include: list[str]) -> None:
    answer = decode_answer(MESSAGE, "anthropic", thinking=True)
    body = encode_response(answer, "resp_1", "m", _echo(include), 1)
    validate("Response", body)
    kinds = [(o["type"], [c["text"] for c in o.get("content", [])]) for o in body["output"]]
    if include:
        assert kinds == [("reasoning", [""]), ("reasoning", ["Plan."]), ("message", ["Done."])]
        assert body["output"][0]["encrypted_content"].endswith("cmVkYWN0ZWQ=")
    else:
        assert kinds == [("reasoning", ["Plan."]), ("message", ["Done."])]
    assert len({o["id"] for o in body["output"]}) == len(body["output"])


def _events() -> list[StreamEvent]:
    return [
        MessageStart("msg_1", "an"),
        BlockStart(0, "thinking"),
        ThinkingDelta(0, "", redacted="cmVkYWN0ZWQ="),
        BlockStop(0),
        BlockStart(1, "thinking"),
        ThinkingDelta(1, "Plan."),
        ThinkingDelta(1, "", signature="sig"),
        BlockStop(1),
        BlockStart(2, "text"),
        TextDelta(2, "Done."),
        BlockStop(2),
        MessageDelta("end_turn", CanonicalUsage(input_tokens=9, output_tokens=30)),
        MessageStop(),
    ]


@pytest.mark.parametrize("include", [[], INCLUDE], ids=["plain", "include"])
def test_the_stream(include: list[str]) -> None:
    encoder = StreamEncoder("resp_1", "m", _echo(include), 1)
    raw = b"".join(encoder.encode(e) for e in _events())
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
    added = [(e["output_index"], e["item"]["type"]) for e in events if e["type"].endswith("added")
             and e["type"] == "response.output_item.added"]  # fmt: skip
    done = events[-1]["response"]
    validate("Response", done)
    if include:
        assert added == [(0, "reasoning"), (1, "reasoning"), (2, "message")]
        assert done["output"][0]["encrypted_content"].endswith("cmVkYWN0ZWQ=")
    else:
        assert added == [(0, "reasoning"), (1, "message")]
        assert [o["type"] for o in done["output"]] == ["reasoning", "message"]
        assert done["output"][0]["content"][0]["text"] == "Plan."
    # every event names an item that was added, at the index it was added at
    opened = {e["item"]["id"]: e["output_index"] for e in events
              if e["type"] == "response.output_item.added"}  # fmt: skip
    for e in events:
        if "item_id" in e:
            assert opened[e["item_id"]] == e["output_index"], e
    assert [opened[o["id"]] for o in done["output"]] == list(range(len(done["output"])))
