"""A streamed `/v1/responses` answer read through the official openai SDK, from an OpenAI upstream
that refuses or is cut mid-way.

- A refusal (Chat Completions `delta.refusal`) came out as `output_text` deltas, so
  `responses.stream(..., text_format=Model)` ran "I'm sorry, ..." through the caller's model and
  raised a ValidationError. It is now a `refusal` content part (`response.refusal.delta` /
  `.done`), as OpenAI streams one, and `output_parsed` is None. An Anthropic client sees the same
  refusal as text with `stop_reason: "refusal"`.
- When the upstream cut the stream after some text, `response.failed` said `output: []`
  although that text had been streamed: it now carries the item streamed so far.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ValidationError

from arbiter.protocols import openai_stream
from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)
REFUSAL = ["I'm sorry, ", "I can't help with that."]
BASE = {"id": "c1", "created": 1, "model": "gpt-mini", "object": "chat.completion.chunk"}


class Person(BaseModel):
    name: str


def _sse(*deltas: dict[str, Any], finish: str | None = "stop", done: bool = True) -> bytes:
    chunks = [
        {**BASE, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    if finish is not None:
        chunks.append({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def _refusal_stream() -> bytes:
    first = {"role": "assistant", "content": None, "refusal": ""}
    return _sse(first, *({"refusal": piece} for piece in REFUSAL))


def _json_capable(text: str) -> str:
    return text.replace('capabilities = ["chat", "no-route"]', 'capabilities = ["chat", "json"]')


async def _with_upstream(tmp: Path, body: bytes, cut: bool, use: Any) -> Any:
    async def answer(writer: asyncio.StreamWriter) -> None:
        if not cut:
            writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))
            return
        # chunked, and the connection closes before the last chunk: a cut stream
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body))

    async with scripted_upstream(answer) as (port, _):
        edit = raw_openai_upstream(port)
        async with (
            sidecar_in_process(
                tmp, edit_config=lambda t: fast_failover(_json_capable(edit(t)))
            ) as sc,
            sdks(sc) as (claude, gpt),
        ):
            return await use(claude, gpt)


def test_a_streamed_refusal_is_a_refusal_part_the_sdk_leaves_unparsed(tmp_path: Path) -> None:
    async def ask(_claude: Any, gpt: Any) -> Any:
        kinds = []
        async with gpt.responses.stream(model="oa-raw", input="Who?", text_format=Person) as events:
            async for event in events:
                kinds.append(event.type)
            return kinds, await events.get_final_response()

    try:
        kinds, final = asyncio.run(_with_upstream(tmp_path, _refusal_stream(), False, ask))
    except ValidationError as err:  # the refusal run through Person
        pytest.fail(f"the refusal was parsed as the caller's model: {err}")
    assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds
    assert "response.output_text.delta" not in kinds
    assert final.status == "completed" and final.incomplete_details is None
    assert final.output_parsed is None
    (item,) = final.output
    assert [(p.type, getattr(p, "refusal", None)) for p in item.content] == [
        ("refusal", "".join(REFUSAL))
    ]


def test_an_anthropic_client_reads_the_refusal_as_text(tmp_path: Path) -> None:
    async def ask(claude: Any, _gpt: Any) -> Any:
        async with claude.messages.stream(
            model="oa-raw", max_tokens=50, messages=[{"role": "user", "content": "Who?"}]
        ) as events:
            return await events.get_final_message()

    final = asyncio.run(_with_upstream(tmp_path, _refusal_stream(), False, ask))
    assert [(b.type, b.text) for b in final.content] == [("text", "".join(REFUSAL))]
    assert final.stop_reason == "refusal"


def test_a_cut_stream_fails_with_what_was_streamed(tmp_path: Path) -> None:
    text = {"role": "assistant", "content": "Half an ans"}
    body = _sse(text, finish=None, done=False)

    async def ask(_claude: Any, gpt: Any) -> Any:
        events = []
        stream = await gpt.responses.create(model="oa-raw", input="Who?", stream=True)
        async for event in stream:
            events.append(event)
        return events

    events = asyncio.run(_with_upstream(tmp_path, body, True, ask))
    assert events[-1].type == "response.failed"
    (item,) = events[-1].response.output
    assert item.type == "message" and item.status == "incomplete"
    assert [p.text for p in item.content] == ["Half an ans"]


def test_a_chat_client_reads_the_refusal_in_delta_refusal() -> None:
    """Chat completions have a refusal field of their own: a refusal block goes there."""
    decoder = openai_stream.StreamDecoder("m")
    encoder = openai_stream.StreamEncoder("m", include_usage=False, created=1)
    out = b""
    for line in _refusal_stream().split(b"\n\n"):
        for event in decoder.feed(line):
            out += encoder.encode(event)
    deltas = [
        orjson.loads(line[6:])["choices"][0]["delta"]
        for line in out.split(b"\n\n")
        if line.startswith(b"data: {")
    ]
    # (the role chunk says `refusal: null`, as OpenAI's does)
    assert "".join(d.get("refusal") or "" for d in deltas) == "".join(REFUSAL)
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    assert not any(d.get("content") for d in deltas)


TEXT = "Here is the first half. "


def _text_then_refusal_stream() -> bytes:
    return _sse({"role": "assistant", "content": TEXT}, *({"refusal": p} for p in REFUSAL))


def test_text_then_a_refusal_streams_as_one_message_with_two_parts(tmp_path: Path) -> None:
    """OpenAI gives an answer that says some text and then refuses as one message item whose
    content is an output_text part then a refusal part; it was two message items."""

    async def ask(_claude: Any, gpt: Any) -> Any:
        events = []
        async with gpt.responses.stream(model="oa-raw", input="Who?") as stream:
            async for event in stream:
                events.append(event)
            return events, await stream.get_final_response()

    events, final = asyncio.run(_with_upstream(tmp_path, _text_then_refusal_stream(), False, ask))
    (item,) = final.output
    assert item.type == "message" and item.status == "completed"
    assert [
        (p.type, getattr(p, "text", None) or getattr(p, "refusal", None)) for p in item.content
    ] == [("output_text", TEXT), ("refusal", "".join(REFUSAL))]
    assert [e.item.id for e in events if e.type == "response.output_item.added"] == [item.id]
    parts = [(e.type, e.content_index) for e in events if "content_part" in e.type]
    assert parts == [
        ("response.content_part.added", 0),
        ("response.content_part.done", 0),
        ("response.content_part.added", 1),
        ("response.content_part.done", 1),
    ]
    assert {e.content_index for e in events if e.type == "response.refusal.delta"} == {1}
    assert [e.output_index for e in events if e.type == "response.output_item.done"] == [0]
    done = next(e for e in events if e.type == "response.completed")
    assert done.response.output[0].model_dump() == item.model_dump()


def test_text_then_a_refusal_unstreamed_is_one_message_with_two_parts(tmp_path: Path) -> None:
    answer = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-mini",
        "choices": [{
            "index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": TEXT, "refusal": "".join(REFUSAL)},
        }],
        "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12},
    }  # fmt: skip

    async def answer_json(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: application/json", orjson.dumps(answer)))

    async def main() -> Any:
        async with scripted_upstream(answer_json) as (port, _):
            edit = raw_openai_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
                sdks(sc) as (_claude, gpt),
            ):
                return await gpt.responses.create(model="oa-raw", input="Who?")

    final = asyncio.run(main())
    (item,) = final.output
    assert [p.type for p in item.content] == ["output_text", "refusal"]
    assert final.output_text == TEXT and final.status == "completed"
