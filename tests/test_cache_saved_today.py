"""A cache hit's saving is what the call it replaces would cost now, at today's prices.

It was the source answer's cost when it was written: after a price change (an operator's PATCH,
a detected provider change) `x-arbiter-cache-saved-usd`, the hit's `cache_saved_usd` and the
stats' cache savings kept the old price. Through the real sidecar, with the official SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

USER = [{"role": "user", "content": "What is the capital of France?"}]


async def _decision(sc: InProcess, decision_id: str) -> dict[str, Any]:
    r = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_hit_after_a_price_change_saves_the_new_price(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: t + "\n[cache]\nenabled = true\n")
            as sc,
            sdks(sc) as (_, gpt),
        ):  # fmt: skip
            first = await gpt.chat.completions.with_raw_response.create(model="auto", messages=USER)
            await sc.services.cache.drain()
            model = first.headers["x-arbiter-model"]
            m = sc.services.registry[model]
            r = await sc.client.patch(
                f"/arbiter/admin/models/{model}",
                json={"price_in_per_mtok": 3 * m.price_in_per_mtok,
                      "price_out_per_mtok": 3 * m.price_out_per_mtok},
                headers=sc.admin,
            )  # fmt: skip
            assert r.status_code == 200, r.text
            second = await gpt.chat.completions.with_raw_response.create(
                model="auto", messages=USER
            )
            assert second.headers["x-arbiter-cache"] == "hit"
            miss = await _decision(sc, first.headers["x-arbiter-decision-id"])
            hit = await _decision(sc, second.headers["x-arbiter-decision-id"])
            today = 3 * miss["cost_usd"]  # the same usage at three times the prices
            assert miss["cost_usd"] > 0
            assert float(second.headers["x-arbiter-cache-saved-usd"]) == pytest.approx(
                today, abs=1e-8
            )
            assert hit["cache_saved_usd"] == pytest.approx(today)
            stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
            assert stats["cache"]["saved_usd"] == pytest.approx(today)
            assert stats["cache"]["this_replica"]["saved_usd"] == pytest.approx(today)

    asyncio.run(main())
