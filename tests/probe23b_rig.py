"""probe23b's rig: bursts of official-SDK clients at probe22b's fleet (tests/probe22b_rig.py:
real `arbiter serve` processes before the scripted upstream of tests/fault_upstream.py), and
the books each test reads: what was spent, held and decided."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.probe22b_rig import ADMIN, Fleet, fleet, outcome, tables_loaded

MAX_TOKENS = 20  # ask_sdk's: a call's worst case is its prompt and 20 output tokens


async def ask(client: openai.AsyncOpenAI, text: str = "hi", **kw: Any) -> str:
    """One chat request's outcome: ok, budget (a 429 budget_exceeded), connection (the
    sidecar went away), or what else came."""

    async def call() -> None:
        answer = await client.chat.completions.create(
            model=kw.pop("model", "oa-1"), messages=[{"role": "user", "content": text}], **kw
        )
        if kw.get("stream"):
            async for _ in answer:  # type: ignore[union-attr]
                pass

    try:
        return await outcome(call())
    except openai.APIConnectionError:
        return "connection"


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
    """One answered call on each sidecar: what a process learns from its own calls. First each
    sidecar's budget tokenizer is loaded (a count_tokens call waits for it): a prompt counted
    before its tables load in their thread is counted by its bytes and teaches no prompt
    ratio (tokenizer_load.py). Then until each call is recorded: its cost, and what it taught,
    is counted after the answer left (after_answer.py)."""
    for s in f.sidecars:
        tables_loaded(s.root_url, key, "an-1")

    async def run() -> None:
        for s in f.sidecars:
            async with openai.AsyncOpenAI(api_key=key, base_url=s.base_url, max_retries=0) as c:
                assert await ask(c, **kw) == "ok"

    asyncio.run(run())
    decided(f)


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


@pytest.fixture(scope="module")
def one_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    """One sidecar on SQLite under a loose tenant cap, and a key of tenant t (per module)."""
    caps = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
    with fleet(tmp_path_factory.mktemp("one"), "sqlite", caps) as f:
        yield f, str(f.first.create_key("t")["key"])


def usage_dropped_total(f: Fleet) -> float:
    text = httpx.get(f.first.root_url + "/metrics", headers=ADMIN, timeout=15).text
    found = re.findall(r"^arbiter_usage_dropped_total\{.*\} (\S+)$", text, re.M)
    return sum(float(v) for v in found)


def ask_sdk(f: Fleet, key: str, model: str, stream: bool, empty: bool = False) -> None:
    """ "hi" to `model` through its protocol's SDK (an-1: anthropic, else openai), whole or
    streamed (OpenAI's with its usage chunk asked for); the answer must have text (none when
    `empty`)."""
    hi: Any = [{"role": "user", "content": "hi"}]
    if model == "an-1":
        with anthropic.Anthropic(api_key=key, base_url=f.first.root_url, max_retries=0) as c:
            if stream:
                with c.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=hi) as s:
                    text = s.get_final_text()
            else:
                blocks = c.messages.create(model=model, max_tokens=MAX_TOKENS, messages=hi).content
                text = "".join(b.text for b in blocks if b.type == "text")
    else:
        with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as gpt:
            if stream:
                chunks = gpt.chat.completions.create(
                    model=model, messages=hi, max_tokens=MAX_TOKENS, stream=True,
                    stream_options={"include_usage": True},
                )  # fmt: skip
                text = "".join(x.choices[0].delta.content or "" for x in chunks if x.choices)
            else:
                answer = gpt.chat.completions.create(
                    model=model, messages=hi, max_tokens=MAX_TOKENS
                )
                text = answer.choices[0].message.content or ""
    assert bool(text) != empty, text


def new_cost(f: Fleet, before: int) -> float:
    """The newest decision's cost, once there are more than `before` (bounded)."""
    return float(decided(f, before + 1)[0]["cost_usd"])


def cost_under_fault(
    f: Fleet, key: str, model: str, fault: str, stream: bool
) -> tuple[float, float]:
    """One SDK call of `model` with the upstream's `fault`: its recorded cost (checked equal to
    what the tenant's cap was charged) and how many `usage_dropped` it added to /metrics."""
    before = f.settled().get("tenant:t", (0.0, 0.0))[0]
    dropped, seen = usage_dropped_total(f), len(f.decisions())
    f.up.reset(**{model.replace("-", "_"): fault})
    ask_sdk(f, key, model, stream, empty=fault == "emptyzero")
    cost = new_cost(f, seen)
    assert f.settled()["tenant:t"][0] - before == pytest.approx(cost, abs=1e-9)
    return cost, usage_dropped_total(f) - dropped
