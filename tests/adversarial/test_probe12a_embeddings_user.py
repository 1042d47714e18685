"""Outside probe (twelfth session): /v1/embeddings forwarded a `user` that is not a string
(`5`, an object) as it came, though chat and completions refuse it (openai_params): OpenAI
answers 400 after the call was reserved and made. It is now the caller's 400 naming `user`,
before any upstream call; a string `user` still embeds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

BAD: list[Any] = [5, {"id": "u1"}, ["u1"], True]


def test_a_user_that_is_not_a_string_is_a_400_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for user in BAD:
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.embeddings.create(
                        model="sim-small", input=["tide"], extra_body={"user": user}
                    )
                assert info.value.param == "user", (user, info.value.body)
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            answer = await gpt.embeddings.create(model="sim-small", input=["tide"], user="u1")
            assert len(answer.data) == 1 and answer.data[0].embedding

    asyncio.run(main())
