"""Outside probe: a body within the size limit (4 MiB) that is slow to decode. /v1/responses with
120,000 `input` items of one role froze the event loop for 14-18 s (every other request of the
sidecar waited): consecutive items of one role are merged into one turn, and the merge copied the
turn's parts for every item, n^2 in the items. Decoding must grow linearly with the items.

Min of repeats of CPU time, 2,000 -> 16,000 items: about 8x when linear, 64x when quadratic; this
separates the two, it does not time anything (as tests/test_linear_time.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from arbiter.surfaces.anthropic_messages import parse_messages_request
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.surfaces.openai_responses import parse_responses_request

_SMALL, _LARGE = 2_000, 16_000
_MAX_GROWTH = 24.0  # for 8x the items: ~8 linear (up to ~16 on a busy machine), ~64 quadratic


def _cpu_s(parse: Callable[[bytes], Any], raw: bytes, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        parse(raw)
        best = min(best, time.process_time() - start)
    return max(best, 1e-4)


def _responses(n: int) -> bytes:
    one_role = [{"role": "user", "content": "a"}] * n
    return orjson.dumps({"model": "auto", "input": one_role})


def _responses_calls(n: int) -> bytes:
    calls = [
        {"type": "function_call", "call_id": f"c{i}", "name": "f", "arguments": "{}"}
        for i in range(n)
    ]
    return orjson.dumps({"model": "auto", "input": [{"role": "user", "content": "q"}, *calls]})


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "a"} for i in range(n + 1)]


CASES: dict[str, tuple[Callable[[bytes], Any], Callable[[int], bytes]]] = {
    "responses: items of one role": (parse_responses_request, _responses),
    "responses: function calls": (parse_responses_request, _responses_calls),
    "chat: turns": (
        lambda raw: parse_chat_request(raw, {}),
        lambda n: orjson.dumps({"model": "auto", "messages": _turns(n)}),
    ),
    "messages: turns": (
        lambda raw: parse_messages_request(raw, {}),
        lambda n: orjson.dumps({"model": "auto", "max_tokens": 5, "messages": _turns(n)}),
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
