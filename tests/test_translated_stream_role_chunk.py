"""A stream translated from an Anthropic upstream to an OpenAI client reads as OpenAI's live one:
its role chunk says `content: null` when the answer opens with a tool call ("" when it opens with
text), so the SDK's accumulator gives `content: None` as it does live, not "". Checked against the
sim's OpenAI stream of the same request, through the official SDK's ChatCompletionStreamState."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from arbiter.cache.answer import events
from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalResponse,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    TextPart,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCallPart,
)
from arbiter.protocols.openai_response import encode_response
from arbiter.protocols.openai_stream import StreamEncoder
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import openai_chunks, sdks

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
ASK: Any = [{"role": "user", "content": "What's the weather in Paris right now?"}]
LIVE = {"Cache-Control": "no-cache"}


def _shape(value: Any) -> Any:
    """`value` with every leaf but null replaced by its type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None if value is None else type(value).__name__


def _message(chunks: list[Any]) -> dict[str, Any]:
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return state.get_final_completion().choices[0].message.model_dump()


def test_a_translated_stream_opens_as_openai_live_one(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            got: dict[tuple[str, bool], list[Any]] = {}
            for model in ("sim-small", "sim-medium"):  # OpenAI live; Anthropic, translated
                for calls in (True, False):
                    kw: Any = {"model": model, "messages": ASK, "stream": True,
                               "stream_options": {"include_usage": True}}  # fmt: skip
                    if calls:
                        kw |= {"tools": TOOLS, "tool_choice": "required"}
                    stream = await gpt.chat.completions.create(**kw, extra_headers=LIVE)
                    got[model, calls] = [c async for c in stream]
        for calls, first in ((True, None), (False, "")):
            live, translated = got["sim-small", calls], got["sim-medium", calls]
            assert live[0].choices[0].delta.content == first  # the sim's live shape
            assert translated[0].choices[0].delta.role == "assistant"
            assert translated[0].choices[0].delta.content == first, translated[0]
            # OpenAI's live role chunk: `refusal: null`, and a call-first answer's first call in
            # the same chunk (gpt-4o's recorded streams; the sim sends two chunks)
            assert "refusal" in translated[0].choices[0].delta.model_fields_set
            assert translated[0].choices[0].delta.refusal is None
            assert bool(translated[0].choices[0].delta.tool_calls) is calls
            done_live, done = _message(live), _message(translated)
            assert _shape(done) == _shape(done_live)
            assert (done["content"] is None) is calls
            # index, id and type only where the call opens
            opening = [c.choices[0].delta.tool_calls[0] for c in translated
                       if c.choices and c.choices[0].delta.tool_calls]  # fmt: skip
            later = [False] * (len(opening) - 1)
            assert [o.id is not None for o in opening] == ([True, *later] if calls else [])
            assert [o.type is not None for o in opening] == ([True, *later] if calls else [])
            assert all(o.index == 0 for o in opening)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=("sim-medium",)) as sc:
            await body(sc)

    asyncio.run(main())


def _encoded(*events: Any) -> list[dict[str, Any]]:
    encoder = StreamEncoder("m", include_usage=False, created=1, fallback_id="d")
    raw = b"".join(encoder.encode(e) for e in events)
    chunks, _ = openai_chunks(raw)
    return [c["choices"][0]["delta"] for c in chunks]


def test_the_role_chunk_waits_past_thinking_and_comes_once() -> None:
    start, end = MessageStart("msg_1", "m"), MessageDelta("tool_use", CanonicalUsage(3, 4))
    deltas = _encoded(
        start,
        BlockStart(0, "thinking"),
        ThinkingDelta(0, "hmm"),
        BlockStop(0),
        BlockStart(1, "tool_use", "toolu_1", "f"),
        ToolArgsDelta(1, "{}"),
        BlockStop(1),
        BlockStart(2, "tool_use", "toolu_2", "f"),
        BlockStop(2),
        end,
    )
    assert deltas[0] == {
        "role": "assistant", "content": None, "refusal": None, "tool_calls": [{
            "index": 0, "id": "toolu_1", "type": "function",
            "function": {"name": "f", "arguments": ""},
        }],
    }  # fmt: skip
    assert [d.get("role") for d in deltas].count("assistant") == 1
    # an answer with no block at all: the role chunk, empty text, then the finish
    assert _encoded(start, MessageDelta("end_turn", CanonicalUsage()))[0] == {
        "role": "assistant", "content": "", "refusal": None
    }  # fmt: skip


ANSWERS = {
    "text": (TextPart("Sunny."),),
    "call": (ToolCallPart("toolu_1", "get_weather", '{"city": "Paris"}'),),
    "empty text, call": (TextPart(""), ToolCallPart("toolu_1", "get_weather", "{}")),
    "text, calls": (TextPart("Both."), ToolCallPart("a", "f", "{}"), ToolCallPart("b", "f", "{}")),
    "nothing": (),
}


def test_every_answer_streams_as_its_whole_body_reads() -> None:
    """The SDK's accumulation of the stream is the whole chat.completion of the same answer
    (`content` null exactly where the body says null), for each opening the encoder meets."""
    for name, parts in ANSWERS.items():
        stop = "tool_use" if any(isinstance(p, ToolCallPart) for p in parts) else "end_turn"
        answer = CanonicalResponse("msg_1", "m", parts, stop, CanonicalUsage(3, 4))
        encoder = StreamEncoder("m", include_usage=True, created=1)
        raw = b"".join(encoder.encode(e) for e in events(answer, "msg_1"))
        chunks, done = openai_chunks(raw)
        assert done, name
        state = ChatCompletionStreamState()
        for chunk in chunks:
            state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
        streamed = state.get_final_completion().choices[0].message
        whole = ChatCompletion.model_validate(encode_response(answer, "m", 1))
        message = whole.choices[0].message
        assert streamed.content == message.content, name
        assert streamed.refusal == message.refusal, name
        got = [(c.id, c.function.name, c.function.arguments) for c in streamed.tool_calls or ()]
        want = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]  # type: ignore[union-attr]
        assert got == want, name
        assert [c["choices"][0]["delta"].get("role") for c in chunks if c["choices"]].count(
            "assistant"
        ) == 1, name
