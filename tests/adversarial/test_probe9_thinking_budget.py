"""Outside probe (ninth session): Anthropic's extended thinking with a `budget_tokens` that
Anthropic refuses ("Must be >= 1024 and less than `max_tokens`", the SDK's own documentation of
ThinkingConfigEnabledParam), or with no budget at all. /v1/messages forwarded it: a routed
request went to a Claude model, whose 400 came back after routing as `upstream_rejected`
(a failed decision, an upstream call), and the simulated pool, like any server that does not
check, answered. Each is now the caller's 400 naming `thinking.budget_tokens`, in Anthropic's
shape, before any upstream call; a valid budget, and the other thinking types, still pass."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks, sim_requests

CLAUDE = "sim-medium"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("model", [CLAUDE, "auto"])
def test_a_thinking_budget_anthropic_refuses_is_a_400_before_any_call(
    tmp_path: Path, model: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            before = await sim_requests(sc)
            refused: list[tuple[int, Any]] = [
                (2000, {"type": "enabled", "budget_tokens": 2000}),  # not below max_tokens
                (4000, {"type": "enabled", "budget_tokens": 1023}),
                (4000, {"type": "enabled"}),
                (4000, {"type": "enabled", "budget_tokens": "2048"}),
                (4000, {"type": "enabled", "budget_tokens": True}),
                (4000, "enabled"),
            ]
            for max_tokens, thinking in refused:
                body = {"model": model, "max_tokens": max_tokens, "messages": HI,
                        "thinking": thinking}  # fmt: skip
                r = await sc.client.post("/v1/messages", json=body, headers=sc.anthropic)
                message = check_anthropic_error(r, 400, "invalid_request_error")
                assert "thinking" in message, message
            assert await sim_requests(sc) == before
            async with sdks(sc) as (claude, _):
                with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
                    await claude.messages.create(
                        model=model, max_tokens=1024, messages=HI,  # type: ignore[arg-type]
                        thinking={"type": "enabled", "budget_tokens": 1024},
                    )  # fmt: skip
                for thinking in (
                    {"type": "enabled", "budget_tokens": 1024},
                    {"type": "disabled"},
                    {"type": "adaptive"},
                ):
                    answer = await claude.messages.create(
                        model=model, max_tokens=2048, messages=HI,  # type: ignore[arg-type]
                        thinking=thinking,  # type: ignore[arg-type]
                    )  # fmt: skip
                    assert answer.content

    asyncio.run(main())
