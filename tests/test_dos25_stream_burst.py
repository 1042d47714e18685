"""dos25: a stream whose events come many to a network piece lets the event loop run between
them.

SSEStream.events() handed on every event of the pieces that had come with no wait: a burst of
tiny events (a fast or hostile upstream: 100,000 empty deltas in 256 KiB pieces) was read,
relayed and written in one turn of the loop, 0.26-1.1 s in which no other request was served
(bench/hostile_upstream_loop_stall.py; 0.6-1.6 s of /healthz waits through `arbiter serve`).
Now the loop runs after every YIELD_EVERY events handed on without a wait for the network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.upstream.http import YIELD_EVERY
from arbiter.upstream.openai import OpenAIUpstream

_EVENT = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'  # noqa: E501
_END = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'  # noqa: E501
EVENTS = 2_000


class _OnePiece(httpx.AsyncByteStream):
    """The whole stream in one piece, as a burst that came before the reader looked."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body


async def _read(body: bytes) -> tuple[str, int]:
    """(the text the stream's events carried, turns another task got while they were read)."""
    up = OpenAIUpstream(
        UpstreamSettings("up", "http://upstream.test/v1"),
        FailoverSettings(),
        transport=httpx.MockTransport(
            lambda req: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_OnePiece(body)
            )
        ),
    )
    model = ModelSettings("m", "up", 0.1, 0.0)
    stream = await up.open_stream({"messages": [{"role": "user", "content": "x"}]}, model)
    turns, done = 0, False

    async def other() -> None:
        nonlocal turns
        while not done:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    started, text = turns, []
    try:
        async for event in stream.events():
            text.append(b'"content":"a"' in event)
    finally:
        done = True
        await task
        await up.aclose()
    return f"{sum(text)} a", turns - started


def test_a_burst_of_events_lets_the_loop_run_between_them() -> None:
    text, turns = asyncio.run(_read(_EVENT * EVENTS + _END))
    assert text == f"{EVENTS} a"  # every event read, in order, none lost
    assert turns >= EVENTS // YIELD_EVERY - 1  # before: 0 in the whole burst


def test_a_few_events_cost_no_extra_turn() -> None:
    """Under YIELD_EVERY events from one piece: no pause (the request path's usual stream)."""
    _, turns = asyncio.run(_read(_EVENT * (YIELD_EVERY - 8) + _END))
    assert turns <= 1
