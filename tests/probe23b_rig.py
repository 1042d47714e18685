"""probe23b's rig: bursts of official-SDK clients at probe22b's fleet (tests/probe22b_rig.py:
real `arbiter serve` processes before the scripted upstream of tests/fault_upstream.py), and
the books each test reads: what was spent, held and decided."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import openai

from tests.probe22b_rig import Fleet


async def ask(client: openai.AsyncOpenAI, text: str = "hi", **kw: Any) -> str:
    """One chat request's outcome: ok, budget (a 429 budget_exceeded), or what else came."""
    try:
        answer = await client.chat.completions.create(
            model=kw.pop("model", "oa-1"), messages=[{"role": "user", "content": text}], **kw
        )
        if kw.get("stream"):
            async for _ in answer:  # type: ignore[union-attr]
                pass
        return "ok"
    except openai.RateLimitError as err:
        body: Any = err.body
        return "budget" if body.get("code") == "budget_exceeded" else f"429 {body}"
    except openai.APIStatusError as err:
        return f"{err.status_code} {err.body}"
    except openai.APIConnectionError:
        return "connection"  # the sidecar went away


def burst(
    f: Fleet,
    keys: str | list[str],
    n: int,
    text: str = "hi",
    kinds: Callable[[int], dict[str, Any]] | None = None,
    **kw: Any,
) -> list[str]:
    """`n` requests at once, spread over the fleet's sidecars and `keys` in turn; `kinds(i)`:
    the i-th request's own arguments (else `kw`)."""
    keys = [keys] if isinstance(keys, str) else keys

    async def run() -> list[str]:
        clients = [
            openai.AsyncOpenAI(api_key=k, base_url=s.base_url, max_retries=0, timeout=30)
            for k in keys
            for s in f.sidecars
        ]
        try:
            return await asyncio.gather(*(
                ask(clients[i % len(clients)], text, **(kinds(i) if kinds else kw))
                for i in range(n)
            ))  # fmt: skip
        finally:
            for c in clients:
                await c.close()

    return asyncio.run(run())


def warm(f: Fleet, key: str, **kw: Any) -> None:
    """One answered call on each sidecar: what a process learns from its own calls."""

    async def run() -> None:
        for s in f.sidecars:
            async with openai.AsyncOpenAI(api_key=key, base_url=s.base_url, max_retries=0) as c:
                assert await ask(c, **kw) == "ok"

    asyncio.run(run())


def decided(f: Fleet, count: int | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The decisions, once `count` of them are written (default: every request answered so far
    by the upstream; bounded: they are written behind the answers)."""
    want = len(f.up.calls) if count is None else count
    deadline = time.monotonic() + timeout_s
    while len(got := f.decisions()) < want:
        assert time.monotonic() < deadline, (len(got), want)
        time.sleep(0.05)
    return got


def decided_usd(f: Fleet) -> float:
    return sum(float(d["cost_usd"] or 0) for d in f.decisions())
