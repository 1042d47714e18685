"""probe27a: a shadow call's worst case tokenizes a long prompt off the event loop, as the
served request's does (worst_case.prompt_tokens_async). Before, the shadow call counted the
whole prompt again on the loop (CallWorst's lazy count): ~30-130 ms for 700 KB here, a stall of
every request in flight, the callers' latency paying for Arbiter's own learning."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter import worst_case
from tests.inproc import sidecar_in_process
from tests.waiting import until_async

LONG = "Which of these costs less to route, and why? " * 2_500  # ~110 kB, past _OFF_LOOP_CHARS
SHADOW = """
[shadow]
challengers = ["sim-premium"]
sample_rate = 1.0
budget_usd = 10.0
auto_promote = false
"""


def test_a_shadow_call_counts_a_long_prompt_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(LONG) > worst_case._OFF_LOOP_CHARS
    on_loop: list[bool] = []
    real = worst_case.prompt_tokens
    loop_thread = threading.get_ident()

    def spy(body: dict[str, Any], image_tokens: int) -> int:
        if any(LONG in str(m.get("content")) for m in body.get("messages", ())):
            on_loop.append(threading.get_ident() == loop_thread)
        return real(body, image_tokens)

    monkeypatch.setattr(worst_case, "prompt_tokens", spy)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + SHADOW) as sc:
            body = {"model": "auto", "messages": [{"role": "user", "content": LONG}],
                    "max_tokens": 16}  # fmt: skip
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 200, r.text[:300]
            assert r.headers["x-arbiter-model"] != "sim-premium"
            shadow = sc.services.shadow

            async def made() -> bool:
                return any(t["calls"] for t in shadow.report())

            await until_async(made, "the shadow call")
            await shadow.drain()

    asyncio.run(main())
    assert on_loop and not any(on_loop), on_loop
