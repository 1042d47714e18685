"""An OpenAI stream relayed as it came keeps the usage promises the spec makes its client.

A client that asks `stream_options.include_usage` is promised one more chunk before [DONE]:
empty `choices`, the whole call's usage. An upstream that sends none (a compatible server that
ignores the option, a gateway that strips it) had the stream end without it: the official SDK's
stream gave no usage at all. It now gets that chunk with the latest usage relayed, else
Arbiter's own counts (the prompt's, the answer estimated), on chat and legacy completions.
A usage riding on a chunk with content (vLLM's continuous usage stats) was relayed unchecked:
a negative or absurd count reached the client; it gets the same check as a usage chunk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import InProcess, raw_openai_upstream, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

USER = [{"role": "user", "content": "Say hello to the whole team, please."}]
TEXT = "Hello there, a long answer. " * 6


def _sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chat_stream(running: dict[str, Any] | None = None, final: bool = False) -> bytes:
    """Content and its end, with `running` usage on the content chunk; a usage chunk when
    `final`."""
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m"}
    content: dict[str, Any] = {
        **base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": TEXT}}],
    }  # fmt: skip
    if running is not None:
        content["usage"] = running
    chunks = [content, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    if final:
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 9,
                       "completion_tokens": 30, "total_tokens": 39}})  # fmt: skip
    return _sse(chunks)


def completion_stream() -> bytes:
    base = {"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "m"}
    return _sse([
        {**base, "choices": [{"index": 0, "text": TEXT, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]},
    ])  # fmt: skip


async def _with_upstream(tmp_path: Path, body: bytes, run: Any) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))

    async with scripted_upstream(answer) as (port, _):
        config = raw_openai_upstream(port)
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: fast_failover(config(t))
        ) as sc:
            await run(sc)


async def _chat_chunks(sc: InProcess, include_usage: bool) -> list[Any]:
    async with sdks(sc) as (_, gpt):
        stream = await gpt.chat.completions.create(
            model="oa-raw", messages=USER, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True} if include_usage else None,  # type: ignore[arg-type]
        )  # fmt: skip
        return [chunk async for chunk in stream]


def test_a_chat_stream_without_the_usage_chunk_asked_for_ends_with_arbiters(
    tmp_path: Path,
) -> None:
    async def run(sc: InProcess) -> None:
        chunks = await _chat_chunks(sc, include_usage=True)
        last = chunks[-1]
        assert last.choices == [] and last.usage is not None, chunks
        assert last.id == "c1" and last.object == "chat.completion.chunk", last
        assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0, last.usage
        assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
        assert sum(c.usage is not None for c in chunks) == 1, "one usage chunk"
        # not asked for: none added
        assert all(c.usage is None for c in await _chat_chunks(sc, include_usage=False))

    asyncio.run(_with_upstream(tmp_path, chat_stream(), run))


def test_the_upstreams_own_usage_chunk_is_relayed_and_not_doubled(tmp_path: Path) -> None:
    async def run(sc: InProcess) -> None:
        chunks = await _chat_chunks(sc, include_usage=True)
        usages = [c.usage for c in chunks if c.usage is not None]
        assert len(usages) == 1 and usages[0].completion_tokens == 30, chunks

    asyncio.run(_with_upstream(tmp_path, chat_stream(final=True), run))


def test_a_completions_stream_gets_its_usage_chunk_too(tmp_path: Path) -> None:
    async def run(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            stream = await gpt.completions.create(
                model="oa-raw", prompt="Say hello to the whole team, please.", stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            chunks = [chunk async for chunk in stream]
        last = chunks[-1]
        assert last.choices == [] and last.usage is not None, chunks
        assert last.object == "text_completion" and last.id == "cmpl-1", last
        assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0, last.usage

    asyncio.run(_with_upstream(tmp_path, completion_stream(), run))


RUNNING_LIES = {
    "negative": {"prompt_tokens": -5, "completion_tokens": 3, "total_tokens": -2},
    "absurd": {"prompt_tokens": 9, "completion_tokens": 10**13, "total_tokens": 10**13 + 9},
    "a float": {"prompt_tokens": 9, "completion_tokens": 3.5, "total_tokens": 12.5},
}


@pytest.mark.parametrize("lie", list(RUNNING_LIES))
@pytest.mark.parametrize("include_usage", [True, False], ids=["asked", "not asked"])
def test_a_running_usage_on_a_content_chunk_is_held_to_the_same_check(
    tmp_path: Path, lie: str, include_usage: bool
) -> None:
    async def run(sc: InProcess) -> None:
        chunks = await _chat_chunks(sc, include_usage=include_usage)
        running = chunks[0].usage
        assert running is not None and chunks[0].choices, chunks
        assert type(running.completion_tokens) is int, running
        assert 0 < running.prompt_tokens < 1000 and 0 < running.completion_tokens < 1000, running
        assert running.total_tokens == running.prompt_tokens + running.completion_tokens

    asyncio.run(_with_upstream(tmp_path, chat_stream(running=RUNNING_LIES[lie]), run))


def test_a_well_formed_running_usage_is_relayed_as_it_came(tmp_path: Path) -> None:
    good = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}

    async def run(sc: InProcess) -> None:
        chunks = await _chat_chunks(sc, include_usage=True)
        assert chunks[0].usage is not None and chunks[0].usage.model_dump() == {
            **good, "completion_tokens_details": None, "prompt_tokens_details": None,
        }, chunks[0].usage  # fmt: skip
        # no usage chunk of its own: the latest running usage closes the stream as promised
        assert chunks[-1].choices == [] and chunks[-1].usage == chunks[0].usage, chunks[-1]

    asyncio.run(_with_upstream(tmp_path, chat_stream(running=good), run))
