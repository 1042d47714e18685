"""Anthropic's `thinking: {type: "disabled"}` turns thinking off: the answer has no thinking
blocks and the canonical answer holds it whole. The cache bypassed it as it does thinking on (a
thinking answer's blocks cannot be replayed), so every such request was an upstream call. Now it
is cached like a request without `thinking`; thinking on still bypasses (the control)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks


def test_thinking_disabled_is_cached_and_thinking_on_is_not(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            cases: list[tuple[dict[str, Any], list[str]]] = [
                ({"type": "disabled"}, ["miss", "hit"]),
                ({"type": "enabled", "budget_tokens": 1024}, ["bypass", "bypass"]),
            ]
            for i, (thinking, expected) in enumerate(cases):
                seen = []
                for _ in range(2):
                    raw = await claude.messages.with_raw_response.create(
                        model="sim-medium", max_tokens=2048, thinking=thinking,  # type: ignore[arg-type]
                        messages=[{"role": "user", "content": f"Case {i}: name a river."}],
                    )  # fmt: skip
                    await raw.parse()
                    seen.append(raw.headers["x-arbiter-cache"])
                    await sc.services.cache.drain()
                assert seen == expected, (thinking, seen)

    run_with_claude(tmp_path, body, edit_config=lambda t: t + "\n[cache]\nenabled = true\n")
