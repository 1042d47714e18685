"""probe20 (outside tester, official SDK, a scripted 127.0.0.1 upstream that counts its calls):
which streamed answers the cache keeps, and whether a later request is served them whole.

- A stream of text and a tool call that ends on finish_reason "stop" (OpenAI's word when
  `tool_choice` names a function; Ollama's and some vLLM versions' for every call) was kept as
  its text alone: the same request, asked again, was served the text without the call, a
  different answer than the one the upstream gave, with finish "stop" and nothing to run.
- A stream that ends on another server's word for a whole answer ("eos" from Together,
  "MAX_TOKENS" from Gemini's layer, both read as finished everywhere else) was never kept,
  though its non-streamed twin is: the cache failed to serve where it promises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import InProcess, raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)

CACHE_ON = "\n[cache]\nenabled = true\n"
BASE = {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
CALL = {"index": 0, "id": "call_up1", "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "tides"}'}}  # fmt: skip


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _stream(text: str, finish: str, calls: list[dict[str, Any]] = ()) -> bytes:  # type: ignore[assignment]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": text}]
    if calls:
        deltas.append({"tool_calls": list(calls)})
    return _sse([
        *({**BASE, "choices": [{"index": 0, "delta": d}]} for d in deltas),
        {**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {**BASE, "choices": [], "usage": USAGE},
    ])  # fmt: skip


def _whole(text: str) -> bytes:
    return orjson.dumps({
        "id": "c2", "object": "chat.completion", "created": 7, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": USAGE,
    })  # fmt: skip


async def _against(
    tmp_path: Path, answers: list[bytes], body: Callable[[InProcess, list[int]], Awaitable[None]]
) -> None:
    """`body` against a sidecar whose `oa-raw` answers the i-th call with `answers[i]` (the
    last one again after them)."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        payload = answers[min(calls[0] - 1, len(answers) - 1)]
        kind = b"text/event-stream" if payload.startswith(b"data:") else b"application/json"
        writer.write(response(b"200 OK\r\ncontent-type: " + kind, payload))

    async with scripted_upstream(answer) as (port, calls):
        config = raw_openai_upstream(port)
        edit = lambda t: fast_failover(config(t)) + CACHE_ON  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            await body(sc, calls)


def test_a_streamed_answer_with_a_tool_call_that_ended_on_stop_is_not_kept_as_text(
    tmp_path: Path,
) -> None:
    messages = [{"role": "user", "content": "Look up the tides for me."}]
    forced = {"type": "function", "function": {"name": "lookup"}}

    async def body(sc: InProcess, calls: list[int]) -> None:
        async with sdks(sc) as (_, gpt):
            stream = await gpt.chat.completions.create(
                model="oa-raw", messages=messages, tools=TOOLS, tool_choice=forced, stream=True,  # type: ignore[arg-type]
            )  # fmt: skip
            chunks = [c async for c in stream]
            streamed_calls = [
                t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or ())
            ]
            assert streamed_calls and streamed_calls[0].function.name == "lookup"
            await sc.services.cache.drain()
            again = await gpt.chat.completions.with_raw_response.create(
                model="oa-raw", messages=messages, tools=TOOLS, tool_choice=forced,  # type: ignore[arg-type]
            )  # fmt: skip
        message = again.parse().choices[0].message
        # before: "hit", the text alone ("Checking.") with no tool call to run
        assert again.headers["x-arbiter-cache"] == "miss", message
        assert calls[0] == 2
        assert message.tool_calls and message.tool_calls[0].function.name == "lookup"

    asyncio.run(
        _against(
            tmp_path,
            [
                _stream("Checking.", "stop", [CALL]),
                _stream("", "tool_calls", [CALL]).replace(b'"content":""', b'"content":null'),
            ],
            body,
        )
    )


def test_an_anthropic_client_is_not_kept_the_text_of_a_translated_stream_with_a_call(
    tmp_path: Path,
) -> None:
    """The same stream translated for an Anthropic client: held before the fix too (the
    translation ends a stream that carried a call on tool_use, which is not kept); recorded so
    that it keeps holding."""
    messages = [{"role": "user", "content": "Look up the tides for me."}]
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    forced = {"type": "tool", "name": "lookup"}
    ask: dict[str, Any] = {
        "model": "oa-raw", "max_tokens": 64, "messages": messages, "tools": tools,
        "tool_choice": forced,
    }  # fmt: skip

    async def body(sc: InProcess, calls: list[int]) -> None:
        async with sdks(sc) as (claude, _):
            async with claude.messages.stream(**ask) as stream:
                first = await stream.get_final_message()
            assert [b.type for b in first.content] == ["text", "tool_use"]
            await sc.services.cache.drain()
            again = await claude.messages.with_raw_response.create(**ask)
            message = await again.parse()
        assert again.headers["x-arbiter-cache"] == "miss", message
        assert calls[0] == 2
        assert [b.type for b in message.content] == ["tool_use"]

    asyncio.run(
        _against(
            tmp_path,
            [
                _stream("Checking.", "stop", [CALL]),
                _stream("", "tool_calls", [CALL]).replace(b'"content":""', b'"content":null'),
            ],
            body,
        )
    )


@pytest.mark.parametrize("finish", ["eos", "MAX_TOKENS"])
def test_a_stream_ended_on_another_servers_finish_word_is_kept(tmp_path: Path, finish: str) -> None:
    messages = [{"role": "user", "content": "Describe the tides in one line."}]

    async def body(sc: InProcess, calls: list[int]) -> None:
        async with sdks(sc) as (_, gpt):
            stream = await gpt.chat.completions.create(
                model="oa-raw", messages=messages, max_tokens=12, stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            await sc.services.cache.drain()
            again = await gpt.chat.completions.with_raw_response.create(
                model="oa-raw", messages=messages, max_tokens=12
            )
        # before: "miss", a second upstream call for the answer it had just streamed whole
        assert again.headers["x-arbiter-cache"] == "hit"
        assert calls[0] == 1
        choice = again.parse().choices[0]
        assert choice.message.content == text == "The tide rises and falls twice a day."
        assert choice.finish_reason == ("length" if finish == "MAX_TOKENS" else "stop")
        assert again.headers["x-arbiter-cost-usd"] == "0.00000000"

    asyncio.run(
        _against(
            tmp_path,
            [_stream("The tide rises and falls twice a day.", finish), _whole("a second call")],
            body,
        )
    )
