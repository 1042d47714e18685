"""Outside probe (twelfth session): Anthropic's `metadata.user_id` is at most 256 characters;
a longer one was accepted and sent on to a Claude model, whose API answers 400 after the call
was routed and its worst case reserved. It is now the caller's 400 in Anthropic's shape naming
the field, before any upstream call; 256 characters still answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


def test_a_user_id_over_256_characters_is_a_400_before_any_call(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto"):  # sim-medium speaks Anthropic's API
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model=model, max_tokens=64, messages=MESSAGES,
                        metadata={"user_id": "u" * 257},
                    )  # fmt: skip
                err = info.value.body
                assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
                assert err["error"]["message"].startswith("metadata.user_id:"), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            for model in ("sim-medium", "auto"):
                answer = await claude.messages.create(
                    model=model, max_tokens=64, messages=MESSAGES, metadata={"user_id": "u" * 256}
                )
                assert answer.content, answer

    run_with_claude(tmp_path, body)
