"""A tenant near its cap on `auto` (route25 item 1): the request was refused whenever the
dearest model it might fail over to did not fit, although the model the router picked did
(the same request named to that model was served). Now the hold falls back to the first
call's worst case; a failover step past it is covered only if the cap allows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter import worst_case
from tests.budget_harness import Harness, Scripted, settings

BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}
PRICES = {"sim-tiny": (0.10, 0.20), "sim-small": (0.50, 1.50)}


def worst(model: str) -> float:
    w = worst_case.CallWorst(lambda _m: None, BODY, 100, 2000)  # type: ignore[arg-type,return-value]
    pin, pout = PRICES[model]
    return (w.prompt_tokens * pin + 100 * pout) / 1e6


def near_cap(tmp_path: Path) -> Any:
    """Room for a few sim-tiny calls, not one call to any dearer model (sim-small is the
    cheapest of them); the router picks sim-tiny (a low quality target, no exploration)."""
    cap = 3 * worst("sim-tiny")
    assert cap < worst("sim-small")
    return settings(
        tmp_path, cap, "[failover]\nretries_per_model = 0\nbackoff_ms = 1\n",
        routing="quality_target = 0.3\nexplore = 0.0\n",
    )  # fmt: skip


async def ask(h: Harness, model: str) -> Any:
    body = {"model": model, **BODY}
    return await h.client.post("/v1/chat/completions", json=body, headers={
        "authorization": "Bearer adm-budget-tests"})  # fmt: skip


@pytest.mark.parametrize("model", ["auto", "sim-tiny"])
def test_auto_is_served_when_its_routed_model_fits(tmp_path: Path, model: str) -> None:
    async def go() -> None:
        up = Scripted()
        async with Harness(near_cap(tmp_path), up) as h:
            r = await ask(h, model)
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] == "sim-tiny"
            budget = await h.settled()
            assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)

    asyncio.run(go())


def test_a_failover_past_the_cap_is_not_taken(tmp_path: Path) -> None:
    """The routed call fails (billed); failing over to a dear model would pass the cap: no
    such call is made, and the spend stays under the cap."""

    async def go() -> None:
        up = Scripted(*["reset"] * 4)
        s = near_cap(tmp_path)
        async with Harness(s, up) as h:
            r = await ask(h, "auto")
            assert r.status_code in (429, 502, 503), r.text
            assert len(up.bodies) == 1, "the routed call, and no failover past the cap"
            budget = await h.settled()
            cap = s.budgets.caps[0].limit_usd
            assert budget["spent"] == pytest.approx(worst("sim-tiny")) and budget["spent"] <= cap
            assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)

    asyncio.run(go())
