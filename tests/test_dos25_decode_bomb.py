"""dos25: an upstream's decompression bomb neither holds the event loop nor costs the response
cap's worth of CPU when its codings are stacked.

content_coding.decoded already stopped a bomb at the response cap (64 MiB by default), but a
bomb that came in one network piece was all of its 1,024 decode steps in one turn of the loop:
0.5-0.8 s in which no other request was served (bench/decode_bomb_loop_stall.py), for a 502.
Stacked codings (`gzip, gzip`: 590 bytes for 256 MiB) cost the same 0.2 s of CPU for a body no
server sends; no single gzip or deflate layer inflates past ~1,032:1."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from arbiter.upstream.content_coding import MAX_RATIO, STEP, CodingError, decoded, decoder

ZEROS = b"\0" * (16 << 20)
ONE_LAYER = gzip.compress(ZEROS, 9, mtime=0)  # ~16 KB
STACKED = gzip.compress(ONE_LAYER, 9, mtime=0)  # ~100 bytes


async def _one_piece(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _read(coding: str, body: bytes, limit: int) -> tuple[int, int]:
    """(bytes decoded, turns another task got while they were): the decode of one piece,
    with a task beside it counting the loop's turns."""
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    started, size = turns, 0
    coded = decoder(coding)
    assert coded is not None
    try:
        async for out in decoded(_one_piece(body), coded, limit):
            size += len(out)
    finally:
        done = True
        await task
    return size, turns - started


def test_a_bomb_in_one_piece_lets_the_loop_run_between_steps() -> None:
    size, turns = asyncio.run(_read("gzip", ONE_LAYER, 64 << 20))
    assert size == len(ZEROS)
    # one turn for the other task after each full step (before: none in the whole decode)
    assert turns >= size // STEP - 1


def test_stacked_codings_stop_at_the_ratio_not_the_cap() -> None:
    size = 0

    async def read() -> None:
        nonlocal size
        coded = decoder("gzip, gzip")
        assert coded is not None
        async for out in decoded(_one_piece(STACKED), coded, 64 << 20):
            size += len(out)

    with pytest.raises(CodingError, match=f"inflates past {MAX_RATIO} times"):
        asyncio.run(read())
    assert size <= MAX_RATIO * len(STACKED) + STEP  # ~170 KB decoded, not 16 MiB


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_one_layer_at_its_densest_is_read_whole(coding: str) -> None:
    """The bound is past what one layer can do: zeros at level 9, deflate's best ratio."""
    body = ONE_LAYER if coding == "gzip" else zlib.compress(ZEROS, 9)
    size, _ = asyncio.run(_read(coding, body, 64 << 20))
    assert size == len(ZEROS)
    assert len(ZEROS) / len(body) > 1000  # the densest a layer gets, under MAX_RATIO
