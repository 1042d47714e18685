"""One price per request wherever it is read (money20). money19 pinned each call's model settings
per request, so a price factor adopted (or a patch) mid-request did not reprice the calls already
reserved and sent; but the baseline's cost was priced at the registry's prices when the decision
was written, and the price-drift detector divided the pinned price by the factor read then: a
factor adopted during the call made the request's savings and the detector's configured price
read a price the request never had. Every model the request may call and its baseline are now
pinned, with their factors, in routing's loop step (call_pricing.pin_prices)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import raw_openai_upstream, recorded_decision, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

FACTOR = 3.0
PROMPT, OUTPUT = 12, 8


def _answer(cost: float) -> bytes:
    body = orjson.dumps({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "oa-raw",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Paris."}}],
        "usage": {"prompt_tokens": PROMPT, "completion_tokens": OUTPUT,
                  "total_tokens": PROMPT + OUTPUT, "cost": cost},
    })  # fmt: skip
    return response(b"200 OK\r\ncontent-type: application/json", body)


def test_a_factor_adopted_mid_request_reprices_nothing_of_it(tmp_path: Path) -> None:
    # $1 / $2 per Mtok: 12 in and 8 out cost $0.000028; the upstream reports 1.5x that
    reported = 1.5 * (PROMPT * 1.0 + OUTPUT * 2.0) / 1e6
    observed: list[tuple[str, float, float]] = []
    state: dict[str, Any] = {}

    async def serve(writer: asyncio.StreamWriter) -> None:
        s = state["services"]
        if state.pop("change", False):  # while the call is under way: both repriced x3
            for name in ("oa-raw", s.settings.routing.baseline):
                assert s.registry.adopt_price_factor(name, FACTOR)
            s._pool_changed()
        writer.write(_answer(reported))

    async def main() -> list[dict[str, Any]]:
        async with scripted_upstream(serve) as (port, _):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
                s = state["services"] = sc.services

                def observe(tenant: str, model: str, cost: float, configured: float) -> None:
                    observed.append((model, cost, configured))

                s.alerts.observe_price = observe  # type: ignore[method-assign]
                rows = []
                for change in (True, False):  # the second request: after the change
                    state["change"] = change
                    r = await sc.client.post(
                        "/v1/chat/completions", headers=sc.auth,
                        json={"model": "oa-raw", "messages": [{"role": "user", "content": "Hi"}]},
                    )  # fmt: skip
                    assert r.status_code == 200, r.text
                    rows.append(await recorded_decision(sc, r.headers["x-arbiter-decision-id"]))
                state["baseline"] = s.registry[s.settings.routing.baseline]
                return rows

    during, after = asyncio.run(main())
    base = state["baseline"]  # its prices now: FACTOR x the configured ones
    old_baseline = base.cost_usd(PROMPT, OUTPUT) / FACTOR
    # the request that was under way: its baseline at the prices it began with
    assert during["baseline_cost_usd"] == pytest.approx(old_baseline, rel=1e-9), during
    assert during["cost_usd"] == pytest.approx(reported, rel=1e-9), during
    # the detector saw the call's pinned price over the factor it was pinned under (1): the
    # configured price, not a third of it
    configured = (PROMPT * 1.0 + OUTPUT * 2.0) / 1e6
    assert observed[0] == ("oa-raw", pytest.approx(reported), pytest.approx(configured)), observed
    # the control: the next request reads the new prices (baseline x3), and the same configured
    # price (its pinned prices over the factor 3 they carry)
    assert after["baseline_cost_usd"] == pytest.approx(FACTOR * old_baseline, rel=1e-9), after
    assert observed[1] == ("oa-raw", pytest.approx(reported), pytest.approx(configured)), observed
