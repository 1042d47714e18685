"""Token ids past any vocabulary (`[2**40]`) were forwarded to the named model: /v1/embeddings
and /v1/completions refused only negative ids, so the upstream got ids no tokenizer has (vLLM
answers "Token id ... is out of vocabulary", some servers a 500) and the budget reserved a call
that could not succeed. An id outside 0 .. 2**31-1 (what any server's token tensors hold) is now
the caller's 400 naming `input` / `prompt`, through the openai SDK, before any upstream call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

GPT = "sim-small"
BAD_IDS: list[Any] = [[2**40], [5, 2**31], [[1, 2], [3, 2**40]], [-1]]


@pytest.mark.parametrize("ids", BAD_IDS, ids=["2**40", "2**31", "nested 2**40", "negative"])
def test_token_ids_out_of_range_are_a_400_naming_the_field(tmp_path: Path, ids: Any) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.embeddings.create(model=GPT, input=ids)
            assert info.value.param == "input", info.value.body
            assert "token id" in info.value.message
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.completions.create(model=GPT, prompt=ids, max_tokens=5)
            assert info.value.param == "prompt", info.value.body
            assert await sim_requests(sc) == before, "refused before any upstream call"
            # the control: ids in range (the largest one included) pass through
            ok = await gpt.embeddings.create(model=GPT, input=[[1, 2, 2**31 - 1]])
            assert len(ok.data) == 1 and ok.data[0].embedding

    run_with_claude(tmp_path, body)
