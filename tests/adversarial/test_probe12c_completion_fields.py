"""Outside probe (twelfth session, c): legacy `/v1/completions` fields the spec bounds
(CreateCompletionRequest) that the sidecar forwarded unchecked, so a caller's mistake cost a budget
reservation and an upstream call to come back as the provider's 400 (or was guessed at):
- `echo` not a boolean, `suffix` not a string;
- `best_of` above the spec's maximum of 20 (only `n` goes to 128): reserved as up to 128
  candidates per prompt, then refused upstream;
- a negative token id in `prompt` (embeddings' `input` already refused one);
- no `prompt` at all was a 400 saying "Input should be a list", which names no fault.
Each is now the caller's 400 in OpenAI's shape naming the field, before any upstream call; the
spec's own bounds still answer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

MODEL = "sim-small"
BAD: dict[str, tuple[dict[str, Any], str]] = {  # case: (body fields, the param named)
    "echo-not-bool": ({"prompt": "Say hi", "echo": "yes"}, "echo"),
    "suffix-not-string": ({"prompt": "Say hi", "suffix": 7}, "suffix"),
    "best-of-over-20": ({"prompt": "Say hi", "best_of": 21}, "best_of"),
    "negative-token-id": ({"prompt": [-1, 2]}, "prompt"),
    "negative-in-token-arrays": ({"prompt": [[1, 2], [3, -4]]}, "prompt"),
    "no-prompt": ({}, "prompt"),
    "null-prompt": ({"prompt": None}, "prompt"),
}
GOOD: list[dict[str, Any]] = [
    {"prompt": "Say hi", "echo": True, "suffix": " -- the end", "logprobs": 5},
    {"prompt": "Say hi", "best_of": 20, "n": 2},
    {"prompt": [0, 1, 2]},
    {"prompt": [[0, 1], [2]]},
]


def _run(tmp_path: Path, check: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await check(sc)

    asyncio.run(main())


@pytest.mark.parametrize("case", list(BAD))
def test_what_the_spec_forbids_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    fields, named = BAD[case]

    async def check(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            with pytest.raises(openai.BadRequestError) as info:
                await gpt.completions.create(
                    model=MODEL, prompt=openai.omit, max_tokens=8, extra_body=fields
                )
            err = info.value.body
            assert isinstance(err, dict) and err["param"] == named, err
            assert err["type"] == "invalid_request_error", err
            assert "Input should be a list" not in err["message"], err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    _run(tmp_path, check)


def test_what_the_spec_allows_still_answers(tmp_path: Path) -> None:
    async def check(sc: InProcess) -> None:
        async with sdks(sc) as (_, gpt):
            for fields in GOOD:
                answer = await gpt.completions.create(
                    model=MODEL, prompt=openai.omit, max_tokens=8, extra_body=fields
                )
                assert answer.choices, (fields, answer)

    _run(tmp_path, check)
