"""A daily cap's window rolls over at midnight UTC (a monthly one on the 1st): a burst across
the rollover could not be tested without waiting for it. Budgets now cut windows on a clock
the sidecar is given (`Services(budget_clock=...)`, the wall clock by default), and this test
moves it: a burst that fills day D's cap (the next request refused with 429 while the others
are in flight), then, past midnight, the same tenant admitted in day D+1's window while day D's
calls are still at the upstream. Each call settles in the window it was reserved in (a call
reserved at 23:59:59 and answered after midnight is day D's spend), nothing stays reserved,
`/arbiter/budgets` shows the window open on that clock, and the two windows' spend is what the
decisions cost. The official openai SDK as client; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from arbiter.budget import window_bounds
from arbiter.config import ModelSettings
from arbiter.types import ChatResult
from tests.budget_harness import ADMIN, HEADERS, Harness, Scripted, settings
from tests.pg import empty_store_url

PRICES = (15.0, 60.0)  # sim-premium's, $ per million tokens
MAX_TOKENS = 1000  # a call's worst case is ~ MAX_TOKENS x $60/M = $0.06
COST = (100 * PRICES[0] + 50 * PRICES[1]) / 1e6  # what each answered call costs: usage (100, 50)
CAP = 0.2  # three calls' worst cases fit; a fourth does not while they are in flight
DAY = 86400.0
MIDNIGHT = 1_796_601_600.0  # 2026-12-07 00:00 UTC
CHAT = [{"role": "user", "content": "A haiku about the tide, please."}]


class Clock:
    def __init__(self, now: float) -> None:
        self.t = now

    def __call__(self) -> float:
        return self.t


class Held(Scripted):
    """Answers once `go` is set; `waiting` counts the calls at the upstream."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.waiting = 0

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.waiting += 1
        await self.go.wait()
        return await super().complete(body, model)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with empty_store_url(request.param, tmp_path / "rollover.db") as url:
        yield url


async def _until(check: Any, what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out: {what}")


def test_a_burst_across_a_daily_rollover(tmp_path: Path, store_url: str) -> None:
    assert window_bounds("day", MIDNIGHT)[0] == MIDNIGHT
    extra = f'[[budgets.caps]]\nscope = "tenant"\nlimit_usd = {CAP}\nwindow = "day"\n'
    s = settings(tmp_path, None, extra=extra, store_url=store_url)
    clock = Clock(MIDNIGHT - 0.5)  # day D's last second
    upstream = Held()

    async def go() -> None:
        async with Harness(s, upstream, budget_clock=clock) as h:
            transport = httpx2.ASGITransport(app=h.app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                gpt = openai.AsyncOpenAI(
                    api_key=ADMIN, base_url="http://127.0.0.1/v1", http_client=c, max_retries=0
                )

                async def ask() -> Any:
                    return await gpt.chat.completions.with_raw_response.create(
                        model="sim-premium", messages=CHAT, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
                    )  # fmt: skip

                day_d = [asyncio.create_task(ask()) for _ in range(3)]
                await _until(lambda: upstream.waiting == 3, "day D's three calls sent")
                with pytest.raises(openai.RateLimitError) as refused:  # D's cap is held
                    await ask()
                assert refused.value.response.headers["x-should-retry"] == "true"
                clock.t = MIDNIGHT + 0.5  # past midnight: day D+1's window
                day_d1 = [asyncio.create_task(ask()) for _ in range(3)]
                await _until(lambda: upstream.waiting == 6, "day D+1's calls admitted")
                shown = (await h.client.get("/arbiter/budgets", headers=HEADERS)).json()["data"]
                assert [r["window_start"] for r in shown] == [MIDNIGHT], shown  # D+1's, open
                upstream.go.set()
                answers = await asyncio.gather(*day_d, *day_d1)
            assert all(a.http_response.status_code == 200 for a in answers)
            await h.settled()
            store = h.services.store
            (d,) = store.budget_usage("tenant:default", [MIDNIGHT - DAY])
            (d1,) = store.budget_usage("tenant:default", [MIDNIGHT])
            # each call settled in the window it was reserved in, nothing left reserved
            assert d["spent_usd"] == pytest.approx(3 * COST, rel=1e-9), d
            assert d1["spent_usd"] == pytest.approx(3 * COST, rel=1e-9), d1
            assert d["reserved_usd"] == pytest.approx(0.0, abs=1e-12), d
            assert d1["reserved_usd"] == pytest.approx(0.0, abs=1e-12), d1
            h.services.recorder.flush(5.0)
            costs = [x["cost_usd"] for x in store.iter_decisions(since=0.0, tenant=None)]
            assert sum(costs) == pytest.approx(d["spent_usd"] + d1["spent_usd"], rel=1e-9)

    asyncio.run(go())


def test_a_spent_caps_retry_after_is_counted_on_the_budget_clock(
    tmp_path: Path, store_url: str
) -> None:
    """A spent cap's 429 says when its window resets (`retry-after`); that was counted from the
    wall clock while the window was cut on the budget clock, so across a rollover on that clock
    it named a wait that clock never knew (days, here). Both now read the budget clock."""
    extra = f'[[budgets.caps]]\nscope = "tenant"\nlimit_usd = {COST * 1.5}\nwindow = "day"\n'
    s = settings(tmp_path, None, extra=extra, store_url=store_url)
    later = MIDNIGHT + 30 * DAY  # a day far from the wall clock's
    clock = Clock(later - 100.0)  # 100 s before that day's midnight

    async def go() -> None:
        async with Harness(s, Scripted(), budget_clock=clock) as h:
            transport = httpx2.ASGITransport(app=h.app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                gpt = openai.AsyncOpenAI(
                    api_key=ADMIN, base_url="http://127.0.0.1/v1", http_client=c, max_retries=0
                )

                async def ask() -> Any:
                    return await gpt.chat.completions.with_raw_response.create(
                        # max_tokens at the usage's 50: an output count past what the call could
                        # generate is no count since probe23b (usage_counts.within_limit)
                        model="sim-premium", messages=CHAT, max_tokens=50,  # type: ignore[arg-type]
                    )  # fmt: skip

                async def spend_and_refuse() -> str:
                    for _ in range(20):  # answered until the day's spend passes the cap
                        try:
                            await ask()
                            await h.settled()
                        except openai.RateLimitError as err:
                            assert err.response.headers["x-should-retry"] == "false"
                            return str(err.response.headers["retry-after"])
                    raise AssertionError("the cap never refused")

                def wait(in_s: float) -> str:
                    # windows are cut on the budget clock read on the store's clock (the state
                    # sync's measured offset: on PostgreSQL, a fraction of a second either way
                    # under load), so the window's end is that much nearer or further
                    return str(max(math.ceil(in_s - h.services.state_sync.offset), 1))

                assert await spend_and_refuse() == wait(100.0)  # the window ends in 100 s
                clock.t = later + 3600.0  # past that midnight, an hour into the next day
                assert (await ask()).http_response.status_code == 200  # a fresh window
                await h.settled()
                assert await spend_and_refuse() == wait(DAY - 3600)

    asyncio.run(go())
