"""Outside probe (twelfth session): Anthropic's `service_tier` takes "auto" or "standard_only";
any other value (a misspelling, OpenAI's "priority" / "flex", a number) was accepted and sent on
as it came to a Claude model, whose API answers 400 after the call was routed and its worst case
reserved (a failed attempt and a failover), while an OpenAI model dropped it silently. It is now
the caller's 400 in Anthropic's shape naming the field, before any upstream call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

BAD: list[Any] = ["bogus", "priority", "flex", "", "AUTO", 5, True, {"tier": "auto"}]
MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.parametrize("tier", BAD, ids=repr)
def test_a_tier_anthropic_does_not_take_is_a_400_before_any_call(tmp_path: Path, tier: Any) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto"):  # sim-medium speaks Anthropic's API
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model, max_tokens=64, messages=MESSAGES, service_tier=tier
                    )
                err = info.value.body
                assert isinstance(err, dict) and err["type"] == "error", err
                assert err["error"]["type"] == "invalid_request_error", err
                assert err["error"]["message"].startswith("service_tier:"), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


def test_the_tiers_anthropic_takes_still_answer(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            for tier in ("auto", "standard_only"):
                for model in ("sim-medium", "auto"):
                    answer = await claude.messages.create(
                        model=model, max_tokens=64, messages=MESSAGES, service_tier=tier
                    )
                    assert answer.content, answer

    run_with_claude(tmp_path, body)
