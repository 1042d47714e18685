"""Outside probe: a /v1/completions request with an array of prompts. OpenAI generates (and bills)
`n` (or `best_of`) completions for EACH prompt, so the worst case the budget reserves must scale
with the number of prompts. It did not: 50 prompts were reserved as one, and a cap sized for one
prompt's worst case let through a request that could cost 50 times it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from arbiter import passthrough
from tests.inproc import InProcess, sidecar_in_process

MODEL = "sim-tiny"  # $0.20 per 1M output tokens in the demo pool
# one prompt's worst case: 1,000 output tokens = $0.0002; 50 prompts: $0.01
CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 0.002\n'


@pytest.mark.parametrize(
    ("prompt", "prompts"),
    [
        ("one", 1),
        ([1, 2, 3], 1),  # one prompt as token ids
        (["a", "b", "c"], 3),
        ([[1, 2], [3], [4, 5, 6], [7]], 4),
    ],
)
def test_completions_worst_case_counts_every_prompt(prompt: object, prompts: int) -> None:
    raw = orjson.dumps({"model": MODEL, "prompt": prompt, "max_tokens": 10, "n": 2, "best_of": 3})
    parsed = passthrough.parse("completions", raw)
    assert parsed.output_tokens == 10 * 3 * prompts


def test_a_cap_refuses_a_prompt_array_it_cannot_cover(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        one = {"model": MODEL, "prompt": "Say hi", "max_tokens": 1000}
        r = await sc.client.post("/v1/completions", json=one, headers=sc.auth)
        assert r.status_code == 200, r.text  # the cap covers one prompt's worst case
        many = {**one, "prompt": ["Say hi"] * 50}
        r = await sc.client.post("/v1/completions", json=many, headers=sc.auth)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "budget_exceeded"

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CAP) as sc:
            await body(sc)

    asyncio.run(main())
