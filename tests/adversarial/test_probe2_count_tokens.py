"""Outside probe: the anthropic SDK's `messages.count_tokens` for a model the caller cannot use.
It answered 200 with a count for any name at all (`model="nope"`, or a model outside the key's
allowed models), where Anthropic's API, and our own /v1/messages for the same body, answer 404
`not_found_error` (for a model the key may not use too): a typo went unnoticed until the real
call. Now count_tokens names the model the same way /v1/messages does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import pytest

from arbiter.auth import create_key
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks

CLAUDE = "sim-medium"
HI = [{"role": "user", "content": "How many tokens is this?"}]
ONLY_TINY = '\n[tenants.narrow]\nallowed_models = ["sim-tiny"]\n'


def test_count_tokens_knows_the_models_messages_knows(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, anthropic_models=(CLAUDE,), edit_config=lambda t: t + ONLY_TINY
        ) as sc:
            await check(sc)

    asyncio.run(main())


async def check(sc: InProcess) -> None:
    async with sdks(sc) as (claude, _):
        for model in ("auto", CLAUDE, "sim-small"):
            counted = await claude.messages.count_tokens(model=model, messages=HI)
            assert counted.input_tokens > 0
        with pytest.raises(anthropic.NotFoundError) as missing:
            await claude.messages.count_tokens(model="nope", messages=HI)
        assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    narrow = create_key(sc.services.store, "narrow").key
    async with sdks(sc, narrow) as (claude, _):
        assert (await claude.messages.count_tokens(model="sim-tiny", messages=HI)).input_tokens
        with pytest.raises(anthropic.NotFoundError) as hidden:
            await claude.messages.count_tokens(model=CLAUDE, messages=HI)
        assert hidden.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):  # what /v1/messages says too
            await claude.messages.create(model=CLAUDE, max_tokens=10, messages=HI)
