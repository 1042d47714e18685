"""The sidecar scores each routed prompt with the difficulty model its config names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.difficulty import load, load_default
from tests.inproc import InProcess, sidecar_in_process

QUESTION = (
    "Which of these bones is part of the axial skeleton? A. femur B. sternum C. radius D. tibia"
    "\nAnswer:"
)


async def _recorded_difficulty(sc: InProcess) -> float:
    body = {"model": "auto", "messages": [{"role": "user", "content": QUESTION}]}
    r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
    assert r.status_code == 200, r.text
    d = await sc.client.get(
        f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}", headers=sc.admin
    )
    assert d.status_code == 200, d.text
    return float(d.json()["difficulty"])


@pytest.mark.parametrize("name", ["knowledge", "knowledge_embed", ""])
def test_the_configured_difficulty_model_scores_the_prompt(tmp_path: Path, name: str) -> None:
    def edit(text: str) -> str:
        return text.replace("[routing]\n", f'[routing]\ndifficulty_model = "{name}"\n', 1)

    async def main() -> float:
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            return await _recorded_difficulty(sc)

    got = asyncio.run(main())
    scorer = load(name) if name else load_default()
    assert scorer is not None
    # a wide model reads the text: scored from the statistics alone it would see an empty prompt
    assert got == pytest.approx(scorer.easiness(QUESTION), abs=1e-4)
