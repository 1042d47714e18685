"""No garbage collection runs while a big body is decoded (surfaces/decode.py): the parse's
objects are acyclic, and each collection they set off held the GIL for its whole walk (a
million-object body: ~4,400 collections, the full ones 0.27-0.34 s each, bench/results/mem27.md).
The collector is back as it was after the last of several decodes at once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import orjson
import pytest

from arbiter import gc_tuning
from arbiter.surfaces.decode import decode
from arbiter.surfaces.openai_chat import parse_chat_request


@pytest.fixture
def collections() -> Iterator[list[int]]:
    seen: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(count)
    yield seen
    gc.callbacks.remove(count)


def _body(n: int) -> bytes:
    parts = [{"type": "text", "text": "ab"} for _ in range(100)]
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": parts}] * n})


def test_a_big_decode_sets_off_no_collection(collections: list[int]) -> None:
    assert gc.isenabled()
    raw = _body(400)  # 1.1 MB, 80,000 parts: ~200,000 objects made

    async def both() -> None:
        await asyncio.gather(*(decode(parse_chat_request, raw, None, 10_000) for _ in range(3)))

    asyncio.run(both())
    assert len(collections) <= 1, collections  # the young one the count set off at the end
    assert gc.isenabled()  # back on after the last of the three
    [{"k": [i]} for i in range(50_000)]  # the control: the same allocations outside a decode
    assert collections


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    try:
        asyncio.run(decode(parse_chat_request, _body(100), None, 10_000))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_idle_collector_waits_out_a_pause() -> None:
    c = gc_tuning.IdleCollector(young=500, poll_s=0.001)
    gc.disable()  # only the collector under test collects (as test_gc_tuning's)
    try:
        gc.collect()
        with gc_tuning.collector_paused():
            keep = [[i] for i in range(2_000)]  # over its young threshold
            assert c.collect_due() == -1
        assert c.collect_due() in (0, 1)  # the control: due once the pause is over
        assert len(keep) == 2_000
    finally:
        gc.enable()
        c.stop()
