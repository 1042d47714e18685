"""probe27a: shadow sampling as configured. sample_rate 0.25 over 160 routed requests sends a
share within 4 standard deviations of 0.25 to the challenger (a binomial draw: 40 +- 22);
a tenant rate of 0 wins over a task rate of 1 (none of that tenant's). Held on base27."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

from tests.inproc import sidecar_in_process

N = 160


def _edit(rates: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        return text + (
            '\n[shadow]\nchallengers = ["sim-small"]\nbudget_usd = 100.0\nauto_promote = false\n'
            f"max_in_flight = 1000\n{rates}"
        )

    return edit


async def _shadowed(rates: str, tmp: Path) -> tuple[int, int]:
    """(shadow calls made, routed requests) after N routed requests of tenant `default`."""
    async with sidecar_in_process(tmp, edit_config=_edit(rates)) as sc:
        for i in range(N):
            body = {"model": "auto", "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"Say hello {i} times."}]}  # fmt: skip
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 200 and r.headers["x-arbiter-model"] != "sim-small"
        await sc.services.shadow.drain()
        calls = sum(int(c["calls"]) for c in sc.services.shadow.report())
        assert not sc.services.shadow.skipped, sc.services.shadow.skipped
        return calls, N


def test_the_sample_rate_and_a_tenant_rate_are_honoured(tmp_path: Path) -> None:
    calls, n = asyncio.run(_shadowed("sample_rate = 0.25\n", tmp_path / "a"))
    sd = math.sqrt(n * 0.25 * 0.75)
    assert abs(calls - n * 0.25) <= 4 * sd, calls
    none, _ = asyncio.run(
        _shadowed(
            "sample_rate = 1.0\ntask_rates = { chat = 1.0 }\ntenant_rates = { default = 0.0 }\n",
            tmp_path / "b",
        )
    )
    assert none == 0
