"""A cached answer that calls tools, served again through the official SDKs: each hit carries tool-
call ids of its own (a client running two agents on the same prompt matches each tool result to
its call by id: the ids of a replayed answer collided), and a streamed hit reads as the live
stream it replaces (OpenAI's role chunk says `content: null` in a tool-call answer; the SDK's
accumulator then gives `content: None`, as it does live, not "")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from openai.lib.streaming.chat import ChatCompletionStreamState

from arbiter.cache.answer import Entry, fresh_call_ids, render, replay
from arbiter.canonical import CanonicalResponse, CanonicalUsage, TextPart, ToolCallPart
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import anthropic_events, openai_chunks, sdks

CACHE_ON = "\n[cache]\nenabled = true\n"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOLS: Any = [
    {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
]
CLAUDE_TOOLS: Any = [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]
ASK: Any = [{"role": "user", "content": "What's the weather in Paris right now?"}]
LIVE = {"Cache-Control": "no-cache"}  # read nothing: a live call (its answer is stored)


def run(tmp_path: Path, body: Any, anthropic_models: tuple[str, ...] = ()) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: t + CACHE_ON, anthropic_models=anthropic_models
        ) as sc:
            await body(sc)

    asyncio.run(main())


def test_each_openai_hit_gets_tool_call_ids_of_its_own(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            kw: Any = {"model": "sim-small", "messages": ASK, "tools": OPENAI_TOOLS,
                       "tool_choice": "required"}  # fmt: skip
            first = await gpt.chat.completions.with_raw_response.create(**kw)
            assert first.headers["x-arbiter-cache"] == "miss"
            await sc.services.cache.drain()
            hits = [await gpt.chat.completions.with_raw_response.create(**kw) for _ in range(2)]
            assert [h.headers["x-arbiter-cache"] for h in hits] == ["hit", "hit"]
            calls = [r.parse().choices[0].message.tool_calls for r in (first, *hits)]
            assert all(c is not None and len(c) == 1 for c in calls)
            ids = [c[0].id for c in calls]  # type: ignore[index]
            assert len(set(ids)) == 3, ids  # the source's and each hit's: all different
            assert all(i.startswith("call_") for i in ids[1:]), ids
            # the same call otherwise
            assert len({(c[0].function.name, c[0].function.arguments) for c in calls}) == 1  # type: ignore[index, union-attr]
            # streamed hits too, one id per hit
            streamed = []
            for _ in range(2):
                stream = await gpt.chat.completions.with_raw_response.create(**kw, stream=True)
                assert stream.headers["x-arbiter-cache"] == "hit"
                chunks = [c async for c in stream.parse()]
                opened = [c.choices[0].delta.tool_calls[0].id for c in chunks
                          if c.choices and c.choices[0].delta.tool_calls
                          and c.choices[0].delta.tool_calls[0].id]  # fmt: skip
                assert len(opened) == 1
                streamed.append(opened[0])
            assert len({*ids, *streamed}) == 5, (ids, streamed)

    run(tmp_path, body)


def test_each_anthropic_hit_gets_tool_use_ids_of_its_own(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            kw: Any = {"model": "sim-medium", "max_tokens": 200, "messages": ASK,
                       "tools": CLAUDE_TOOLS, "tool_choice": {"type": "any"}}  # fmt: skip
            first = await claude.messages.with_raw_response.create(**kw)
            assert first.headers["x-arbiter-cache"] == "miss"
            await sc.services.cache.drain()
            hit = await claude.messages.with_raw_response.create(**kw)
            assert hit.headers["x-arbiter-cache"] == "hit"
            async with claude.messages.stream(**kw) as stream:
                streamed = await stream.get_final_message()
            uses = [
                [b for b in m.content if b.type == "tool_use"]
                for m in (await first.parse(), await hit.parse(), streamed)
            ]
            assert all(len(u) == 1 for u in uses), uses
            ids = [u[0].id for u in uses]  # type: ignore[union-attr]
            assert len(set(ids)) == 3, ids
            assert all(i.startswith("toolu_") for i in ids[1:]), ids
            assert len({orjson.dumps(u[0].input) for u in uses}) == 1  # type: ignore[union-attr]

    run(tmp_path, body, anthropic_models=("sim-medium",))


def _accumulated(chunks: list[Any]) -> dict[str, Any]:
    """What the OpenAI SDK's own accumulator makes of a stream, ids and times taken out."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return _without_ids(state.get_final_completion().model_dump())


def _without_ids(done: dict[str, Any]) -> dict[str, Any]:
    done.pop("id"), done.pop("created")
    for call in done["choices"][0]["message"]["tool_calls"] or ():
        call.pop("id")
    return done


def _shape(value: Any) -> Any:
    """`value` with every leaf but null replaced by its type: what two answers of different
    words must share."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None if value is None else type(value).__name__


def _words(done: dict[str, Any]) -> tuple[Any, ...]:
    """What an answer says: model, finish, message content and calls, token counts."""
    choice = done["choices"][0]
    message = choice["message"]
    calls = [(c["type"], c["function"]["name"], c["function"]["arguments"])
             for c in message["tool_calls"] or ()]  # fmt: skip
    usage = done["usage"]
    said = (message["role"], message["content"], message["refusal"], calls)
    return (done["model"], choice["finish_reason"], *said, usage["prompt_tokens"],
            usage["completion_tokens"])  # fmt: skip


def test_a_streamed_tool_call_hit_reads_as_the_live_stream(tmp_path: Path) -> None:
    """The sim streams a tool-call answer as OpenAI does (role chunk with `content: null`); the
    hit replayed `content: ""`, which the SDK accumulates as "" where the live answer is None.
    The live stream and the stored answer are two calls (their arguments differ): the hit must
    have the live stream's shape and the stored answer's words."""

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            kw: Any = {"model": "sim-small", "messages": ASK, "tools": OPENAI_TOOLS,
                       "tool_choice": "required", "stream": True,
                       "stream_options": {"include_usage": True}}  # fmt: skip
            live = await gpt.chat.completions.with_raw_response.create(**kw, extra_headers=LIVE)
            assert live.headers["x-arbiter-cache"] == "bypass"
            live_chunks = [c async for c in live.parse()]
            # a streamed tool call is not stored: a whole answer writes the entry
            plain = {k: v for k, v in kw.items() if k not in ("stream", "stream_options")}
            source = await gpt.chat.completions.create(**plain, extra_headers=LIVE)
            await sc.services.cache.drain()
            hit = await gpt.chat.completions.with_raw_response.create(**kw)
            assert hit.headers["x-arbiter-cache"] == "hit"
            hit_chunks = [c async for c in hit.parse()]
        assert live_chunks[0].choices[0].delta.content is None  # the sim's live shape
        assert hit_chunks[0].choices[0].delta.content is None
        replayed = _accumulated(hit_chunks)
        # usage aside: a hit's says cost 0 and its cached tokens (usage_out), the sim's fewer
        live_done = _accumulated(live_chunks)
        assert _shape({**replayed, "usage": None}) == _shape({**live_done, "usage": None})
        assert _words(replayed) == _words(_without_ids(source.model_dump()))
        assert replayed["choices"][0]["message"]["content"] is None

    run(tmp_path, body)


TWO_CALLS = CanonicalResponse(
    "src",
    "m",
    (
        TextPart("Checking both."),
        ToolCallPart("call_a", "weather", '{"city": "Paris"}'),
        ToolCallPart("call_b", "weather", '{"city": "Rome"}'),
    ),
    "tool_use",
    CanonicalUsage(12, 7),
)


def _entry(answer: CanonicalResponse) -> Entry:
    return Entry("e", "t", "e", None, "sim-medium", "chat", answer, 0.001, "dec_src", 0.0, 1e12)


def test_fresh_ids_are_one_per_call_and_the_same_in_every_rendering_of_one_hit() -> None:
    fresh = fresh_call_ids(TWO_CALLS, "dec_hit1", "openai")
    calls = [p for p in fresh.parts if isinstance(p, ToolCallPart)]
    assert [c.arguments for c in calls] == ['{"city": "Paris"}', '{"city": "Rome"}']
    ids = [c.id for c in calls]
    assert len(set(ids)) == 2 and not {"call_a", "call_b"} & set(ids)
    assert fresh.parts[0] == TWO_CALLS.parts[0] and fresh.usage == TWO_CALLS.usage
    assert fresh_call_ids(TWO_CALLS, "dec_hit1", "openai") == fresh  # one hit, one set of ids
    other = fresh_call_ids(TWO_CALLS, "dec_hit2", "openai")
    assert not {c.id for c in other.parts if isinstance(c, ToolCallPart)} & set(ids)
    body = orjson.loads(render(_entry(fresh), "openai", "dec_hit1", 1))
    assert [c["id"] for c in body["choices"][0]["message"]["tool_calls"]] == ids
    chunks, _ = openai_chunks(
        b"".join(replay(_entry(fresh), "openai", "dec_hit1", include_usage=False, created=1))
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    opened = [d["tool_calls"][0]["id"] for d in deltas if "id" in (d.get("tool_calls") or [{}])[0]]
    assert opened == ids
    # text before the calls: the live role chunk says "" (then the text), as before
    assert chunks[0]["choices"][0]["delta"]["content"] == ""
    claude = fresh_call_ids(TWO_CALLS, "dec_hit1", "anthropic")
    events = anthropic_events(
        b"".join(replay(_entry(claude), "anthropic", "dec_hit1", include_usage=False, created=1))
    )
    blocks = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    starts = [b["id"] for b in blocks if b["type"] == "tool_use"]
    assert len(set(starts)) == 2 and all(s.startswith("toolu_") for s in starts)
    text = CanonicalResponse("s", "m", (TextPart("hi"),), "end_turn", CanonicalUsage())
    assert fresh_call_ids(text, "d", "openai") is text  # a text answer as it was


def test_a_responses_hit_names_its_function_calls_afresh(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            tools: Any = [{"type": "function", "name": "get_weather", "parameters": SCHEMA,
                           "strict": False}]  # fmt: skip
            kw: Any = {"model": "sim-small", "input": ASK[0]["content"], "tools": tools,
                       "tool_choice": "required"}  # fmt: skip
            first = await gpt.responses.with_raw_response.create(**kw)
            assert first.headers["x-arbiter-cache"] == "miss"
            await sc.services.cache.drain()
            hit = await gpt.responses.with_raw_response.create(**kw)
            assert hit.headers["x-arbiter-cache"] == "hit"
            calls = [[o for o in r.parse().output if o.type == "function_call"]
                     for r in (first, hit)]  # fmt: skip
        assert [len(c) for c in calls] == [1, 1]
        assert calls[0][0].call_id != calls[1][0].call_id  # type: ignore[union-attr]
        assert calls[0][0].arguments == calls[1][0].arguments  # type: ignore[union-attr]

    run(tmp_path, body)
