"""The budget's read of inline image headers (worst_case.image_parts) and the event loop: the
longest gap a 1 ms ticker sees while one request's images are read, three ways, interleaved
over ROUNDS rounds in one run: `before` (the walk of a JPEG's markers unbounded, on the loop:
the code before left23), `capped` (the walk bounded, still on the loop) and `now` (bounded, in a
worker thread above 256 KB of inline images: worst_case.image_parts_off_loop). Bodies: 60
crafted JPEGs of 4-byte markers (~3.9 MB, the walk's worst case) and one 3 MB PNG (a copy and
a 48-byte decode). Prints a table of (min / median / max) gaps, then one JSON line.
Usage: python bench/image_headers_loop.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arbiter import media, worst_case

ROUNDS = 5


def _bodies() -> dict[str, dict[str, Any]]:
    jpeg = b"\xff\xd8" + b"\xff\xe1\x00\x02" * (48 * 1024 // 4)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 3_000_000

    def part(mime: str, raw: bytes) -> dict[str, Any]:
        url = f"data:{mime};base64," + base64.b64encode(raw).decode()
        return {"type": "image_url", "image_url": {"url": url}}

    def body(parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": parts}]}

    return {
        "60 crafted jpegs": body([part("image/jpeg", jpeg)] * 60),
        "one 3 MB png": body([part("image/png", png)]),
    }


async def _gap_ms(read: Callable[[], Awaitable[object]]) -> float:
    """The longest interval between a 1 ms ticker's wake-ups while `read` runs."""
    longest, stop = 0.0, False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    await read()
    stop = True
    await ticker
    return longest * 1000


async def _on_loop(body: dict[str, Any]) -> object:
    return worst_case.image_parts(body)


async def _now(body: dict[str, Any]) -> object:
    return await worst_case.image_parts_off_loop(body) or worst_case.image_parts(body)


async def _run(rounds: int) -> dict[str, dict[str, list[float]]]:
    cap = media._JPEG_MAX_MARKERS
    out: dict[str, dict[str, list[float]]] = {}
    for name, body in _bodies().items():
        got = out.setdefault(name, {"before": [], "capped": [], "now": []})
        for _ in range(rounds):  # interleaved: the host's load falls on each variant alike
            media._JPEG_MAX_MARKERS = 1 << 30
            got["before"].append(await _gap_ms(lambda b=body: _on_loop(b)))
            media._JPEG_MAX_MARKERS = cap
            got["capped"].append(await _gap_ms(lambda b=body: _on_loop(b)))
            got["now"].append(await _gap_ms(lambda b=body: _now(b)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 rounds")
    args = ap.parse_args()
    out = asyncio.run(_run(3 if args.quick else ROUNDS))
    print(f"load {os.getloadavg()[0]:.2f}; longest loop gap, ms (min / median / max)")
    for name, got in out.items():
        for variant, gaps in got.items():
            print(f"{name:18} {variant:7} {min(gaps):8.1f} {statistics.median(gaps):8.1f} "
                  f"{max(gaps):8.1f}")  # fmt: skip
    print(json.dumps({"bench": "image_headers_loop", "load": os.getloadavg()[0], "gaps_ms": out}))


if __name__ == "__main__":
    main()
