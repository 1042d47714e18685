"""bench/latency_slo.py's stream share: the client times a stream's first token apart from its
end (over the loopback socket; httpx's ASGI transport hands the body over whole), and a
stream's SLO is judged on its first token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from tests.bench_scripts import load

bench = load("latency_slo")
GAP_S = 0.3


async def _chat(request: Request) -> StreamingResponse:
    """An OpenAI-shaped stream: one content token, a pause, the rest and the usage chunk."""

    async def events() -> AsyncIterator[bytes]:
        def chunk(body: dict[str, object]) -> bytes:
            return f"data: {json.dumps(body)}\n\n".encode()

        yield chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
        yield chunk({"choices": [{"delta": {"content": "Hello"}}]})
        await asyncio.sleep(GAP_S)
        yield chunk({"choices": [{"delta": {"content": " world"}}]})
        yield chunk({"choices": [], "usage": {"completion_tokens": 2}})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


APP = Starlette(routes=[Route("/v1/chat/completions", _chat, methods=["POST"])])


def _timed(transport: str) -> tuple[float | None, float, int]:
    async def go() -> tuple[float | None, float, int]:
        async with bench.sidecar_client(APP, transport) as client:
            _, first, end, tokens = await bench.read_stream(client, {"messages": []}, {})
        return first, end, tokens

    return asyncio.run(go())


def test_the_socket_transport_sees_the_first_token_before_the_end() -> None:
    first, end, tokens = _timed("socket")
    assert tokens == 2
    assert first is not None and end - first >= GAP_S * 0.8, (first, end)


def test_the_asgi_transport_sees_a_stream_whole() -> None:
    """Why the bench sends streams over a socket: through ASGI the first token reads as the end."""
    first, end, _ = _timed("asgi")
    assert first is not None and end - first < GAP_S * 0.5, (first, end)


def test_a_streams_slo_is_its_first_tokens() -> None:
    items = bench.build_items(40, 3, 0.1)
    plan = bench.streams_.plan(items, 3, 1.0)
    i = next(k for k, s in enumerate(plan) if s is not None and s.ttft_slo_ms == 1000.0)
    it, s = items[i], plan[i]
    assert s is not None and it.slo_ms == 2500.0
    # turbo: first token in time; the total later than the request's old total SLO
    picks, seen = ["turbo"], [it.slo_ms / 1000 + 1.0]
    on_time = bench.summarize("x", picks, [it], seen, plan=[s], first_seen={0: 0.9})
    late = bench.summarize("x", picks, [it], seen, plan=[s], first_seen={0: 1.1})
    never = bench.summarize("x", picks, [it], seen, plan=[s], first_seen={})
    assert on_time["slo_met_realized"] == on_time["first_token_met_realized"] == 1.0
    assert late["slo_met_realized"] == never["slo_met_realized"] == 0.0
    assert on_time["quality"] == float(it.truth["turbo"][2])
    assert late["quality"] == never["quality"] == 0.0
    # the same request sent without streams is judged on its total
    plain = bench.summarize("x", picks, [it], seen)
    assert plain["slo_met_realized"] == 0.0 and plain["first_token_met_realized"] == 0.0
