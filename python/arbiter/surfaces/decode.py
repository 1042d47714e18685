"""Decoding a big request body off the event loop.

A surface's parse is linear in the body, but a body near the size limit (4 MiB: ~100,000
messages or blocks) takes 0.1-0.7 s of CPU to validate and convert, and on the event loop that
is a stall of every other request. Bodies over BIG_BODY_BYTES are decoded in a worker thread:
the parse still holds the GIL, but the interpreter hands it back to the loop every switch
interval (5 ms), so other requests keep moving. Smaller bodies stay inline, where a thread
hand-off (tens of µs) would cost more than the parse. The thread also works out what routing
reads of a big request that is as linear in it (upstream_body.precompute_crossing), and marks
the request big, so its encoding for a model of the other protocol, as linear, is a thread's
work too (upstream_body.body_to_send).

The collector is paused while a big body is decoded (`gc_tuning.collector_paused`): a parse makes
millions of objects for a large body, every one of them acyclic (a JSON tree, the canonical
request), and each collection they set off holds the GIL for all of its walk: a 28 MB body of a
million small objects set off ~4,400 collections, 8-11 of them full at 0.27-0.34 s each, the
loop's longest stall (bench/results/mem27.md). One young collection follows the decode, when
the next allocation finds the count past the threshold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from arbiter.gc_tuning import collector_paused
from arbiter.types import ChatRequest
from arbiter.upstream_body import precompute_crossing

BIG_BODY_BYTES = 256 * 1024

_T = TypeVar("_T")


async def decode(parse: Callable[..., _T], raw: bytes, *args: Any) -> _T:
    """`parse(raw, *args)`, in a worker thread when `raw` is big."""
    if len(raw) <= BIG_BODY_BYTES:
        return parse(raw, *args)
    return await asyncio.to_thread(_decode_big, parse, raw, args)


def _decode_big(parse: Callable[..., _T], raw: bytes, args: tuple[Any, ...]) -> _T:
    """A big body's parse, and for a chat request what routing would otherwise work out on the
    loop, linear in the body too: whether it crosses to the other protocol (the canonical form,
    and compat.untranslatable's walk of every part: 0.1 s per walk at 100,000 messages)."""
    with collector_paused():
        parsed = parse(raw, *args)
        if isinstance(parsed, ChatRequest):
            parsed.big_body = True  # its encoding for the other protocol is a thread's work too
            precompute_crossing(parsed)
    return parsed
