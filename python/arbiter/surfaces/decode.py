"""Decoding a big request body off the event loop.

A surface's parse is linear in the body, but a body near the size limit (4 MiB: ~100,000
messages or blocks) takes 0.1-0.7 s of CPU to validate and convert, and on the event loop that
is a stall of every other request. Bodies over BIG_BODY_BYTES are decoded in a worker thread:
the parse still holds the GIL, but the interpreter hands it back to the loop every switch
interval (5 ms), so other requests keep moving. Smaller bodies stay inline, where a thread
hand-off (tens of µs) would cost more than the parse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

BIG_BODY_BYTES = 256 * 1024

_T = TypeVar("_T")


async def decode(parse: Callable[..., _T], raw: bytes, *args: Any) -> _T:
    """`parse(raw, *args)`, in a worker thread when `raw` is big."""
    if len(raw) <= BIG_BODY_BYTES:
        return parse(raw, *args)
    return await asyncio.to_thread(parse, raw, *args)
