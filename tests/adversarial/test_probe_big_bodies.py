"""Outside probe: a body within the size limit (4 MiB) that is slow to decode, on the event loop
(every other request of the sidecar waits). /v1/responses with 120,000 `input` items of one role
froze it for 14-18 s: consecutive items of one role are merged into one turn, and the merge copied
the turn's parts for every item. /v1/messages with 32,000 tool_use blocks answered by as many
tool_result blocks took 3.7 s: each result's id was looked up in a list of the calls. Both were
n^2 in the items; decoding must grow linearly with them.

Min of repeats of CPU time, 2,000 -> 16,000 items: about 8x when linear, 64x when quadratic; this
separates the two, it does not time anything (as tests/test_linear_time.py)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter import server
from arbiter.surfaces import anthropic_messages, openai_responses
from arbiter.surfaces.anthropic_messages import parse_messages_request
from arbiter.surfaces.decode import BIG_BODY_BYTES
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.surfaces.openai_responses import parse_responses_request
from tests.inproc import sidecar_in_process, uncapped_messages

_SMALL, _LARGE = 2_000, 16_000
_UNCAPPED = 1_000_000  # server.max_messages at its most: these bodies are past the default
_MAX_GROWTH = 24.0  # for 8x the items: ~8 linear (up to ~16 on a busy machine), ~64 quadratic


def _cpu_s(parse: Callable[[bytes], Any], raw: bytes, repeats: int = 5) -> float:
    """Min CPU seconds of `parse(raw)`, the cyclic GC off (its passes over the heap are noise
    here: the growth measured is the decoder's own)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.thread_time()  # this thread: not the process's other threads
            parse(raw)
            best = min(best, time.thread_time() - start)
    finally:
        gc.enable()
    return max(best, 1e-4)


def _responses(n: int) -> bytes:
    one_role = [{"role": "user", "content": "a"}] * n
    return orjson.dumps({"model": "auto", "input": one_role})


def _responses_calls(n: int) -> bytes:
    calls = [
        {"type": "function_call", "call_id": f"c{i}", "name": "f", "arguments": "{}"}
        for i in range(n)
    ]
    outputs = [
        {"type": "function_call_output", "call_id": f"c{i}", "output": "r"} for i in range(n)
    ]
    return orjson.dumps(
        {"model": "auto", "input": [{"role": "user", "content": "q"}, *calls, *outputs]}
    )


def _tool_round_trip(n: int) -> bytes:
    uses = [{"type": "tool_use", "id": f"c{i}", "name": "f", "input": {}} for i in range(n)]
    results = [{"type": "tool_result", "tool_use_id": f"c{i}", "content": "r"} for i in range(n)]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": uses},
        {"role": "user", "content": results},
    ]
    return orjson.dumps({"model": "auto", "max_tokens": 5, "messages": messages})


def _chat_tool_round_trip(n: int) -> bytes:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        for i in range(n)
    ]
    results = [{"role": "tool", "tool_call_id": f"c{i}", "content": "r"} for i in range(n)]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *results,
    ]
    return orjson.dumps({"model": "auto", "messages": messages})


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "a"} for i in range(n + 1)]


CASES: dict[str, tuple[Callable[[bytes], Any], Callable[[int], bytes]]] = {
    "responses: items of one role": (
        lambda raw: parse_responses_request(raw, {}, _UNCAPPED),
        _responses,
    ),
    "responses: function calls": (
        lambda raw: parse_responses_request(raw, {}, _UNCAPPED),
        _responses_calls,
    ),
    "chat: turns": (
        lambda raw: parse_chat_request(raw, {}, _UNCAPPED),
        lambda n: orjson.dumps({"model": "auto", "messages": _turns(n)}),
    ),
    "messages: turns": (
        lambda raw: parse_messages_request(raw, {}, _UNCAPPED),
        lambda n: orjson.dumps({"model": "auto", "max_tokens": 5, "messages": _turns(n)}),
    ),
    "messages: tool_use / tool_result pairs": (
        lambda raw: parse_messages_request(raw, {}, _UNCAPPED),
        _tool_round_trip,
    ),
    "chat: tool calls and tool messages": (
        lambda raw: parse_chat_request(raw, {}, _UNCAPPED),
        _chat_tool_round_trip,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_decoding_grows_linearly_with_the_items(case: str) -> None:
    parse, body = CASES[case]
    small, large = body(_SMALL), body(_LARGE)
    growth = _cpu_s(parse, large) / _cpu_s(parse, small)
    if growth >= _MAX_GROWTH:  # a busy machine: measure again before failing
        growth = _cpu_s(parse, large, 9) / _cpu_s(parse, small, 9)
    assert growth < _MAX_GROWTH, f"{case}: {growth:.1f}x CPU for {_LARGE // _SMALL}x the items"


# -- the decode of a big body runs off the event loop --------------------------------------------

_SURFACES = {
    "chat": ("/v1/chat/completions", "parse_chat_request", {}),
    "responses": ("/v1/responses", "parse_responses_request", {}),
    "messages": ("/v1/messages", "parse_messages_request", {"max_tokens": 5}),
    "count_tokens": ("/v1/messages/count_tokens", "parse_count_tokens_request", {}),
}


@pytest.mark.parametrize("surface", sorted(_SURFACES))
def test_a_big_body_is_decoded_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, surface: str
) -> None:
    """Linear is not enough near the size limit: 100,000 messages (3.7 MB) took 0.1-0.7 s of
    CPU to decode, on the event loop, so every other request of the sidecar stalled that long.
    A body over BIG_BODY_BYTES is decoded in a worker thread; a small one stays inline."""
    path, parser, extra = _SURFACES[surface]
    module = {
        "chat": server,  # imported by name there
        "responses": openai_responses,
        "messages": anthropic_messages,
        "count_tokens": anthropic_messages,
    }[surface]
    threads: list[int] = []
    original = getattr(module, parser)

    def spy(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(module, parser, spy)
    key = "input" if surface == "responses" else "messages"

    def body(n: int) -> dict[str, Any]:
        turns = [{"role": "user", "content": "a"}] if n == 1 else _turns(n)
        return {"model": "auto", key: turns, **extra}

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=uncapped_messages) as sc:
            loop_thread = threading.get_ident()
            for n in (1, 40_000):
                raw = orjson.dumps(body(n))
                assert (len(raw) > BIG_BODY_BYTES) == (n > 1)
                headers = {**sc.auth_for(path), "content-type": "application/json"}
                r = await sc.client.post(path, content=raw, headers=headers)
                assert r.status_code < 500, r.text
            small, big = threads
            assert small == loop_thread and big != loop_thread

    asyncio.run(main())
