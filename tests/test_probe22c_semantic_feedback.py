"""probe22c: feedback on one semantic hit teaches the tenant's bound once.

Each `/v1/feedback` on a semantic hit multiplied the tenant's learned scale again (x0.5 wrong,
x1.02 confirmed), however many times the same decision was graded: three reports on one hit
took the scale to 0.125 (ten to the 1e-3 floor: the tenant's semantic cache off), and forty
confirmations of that one hit raised it back past 0.27, where the README's rule is that ~35
confirmed *hits* undo one wrong one. Now a hit's first verdict teaches its tenant's bound; a
repeat, or a changed mind, still overrides the grade (and a wrong one still evicts the entry),
but teaches the bound nothing more. The control: a second hit's verdict teaches again.

The real semantic matcher (the local MiniLM), its deciding stages replaced by a calibration
that serves the nearest entry, so the two paraphrases below are a hit on any host."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.cache.semantic import CONFIRMED_FACTOR, WRONG_FACTOR, SemanticMatcher
from arbiter.cache.verifier import Calibration
from tests.inproc import InProcess, sidecar_in_process
from tests.test_semantic_cache import embedder

SEMANTIC = "\n[cache]\nenabled = true\nsemantic = true\nmax_false_hit_rate = 0.3\n"


def _ask(text: str) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], "max_tokens": 50}


async def _semantic_hit(sc: InProcess, first: str, second: str) -> str:
    r = await sc.client.post("/v1/chat/completions", json=_ask(first), headers=sc.auth)
    assert r.status_code == 200 and r.headers["x-arbiter-cache"] == "miss", r.text
    await sc.services.cache.drain()
    r = await sc.client.post("/v1/chat/completions", json=_ask(second), headers=sc.auth)
    assert r.status_code == 200 and r.headers["x-arbiter-cache"] == "semantic-hit", r.headers
    return r.headers["x-arbiter-decision-id"]


async def _grade(sc: InProcess, decision_id: str, score: float) -> float:
    fb = await sc.client.post(
        "/v1/feedback", json={"decision_id": decision_id, "score": score}, headers=sc.auth
    )
    assert fb.status_code == 200 and fb.json()["cache"] == "semantic", fb.text
    return (await asyncio.to_thread(sc.services.store.semantic_scales))["default"]


@pytest.mark.timeout(120)
def test_one_semantic_hit_teaches_its_tenants_bound_once(tmp_path: Path) -> None:
    embedder()  # skips where the local model is not installed (fails under CI)

    async def body(sc: InProcess) -> None:
        matcher = sc.services.cache.matcher
        assert isinstance(matcher, SemanticMatcher)
        matcher.exact_stage = matcher.pair_model = None
        matcher.verifier.calibration = Calibration((1.0,), (0.0,))  # serve the nearest
        hit = await _semantic_hit(sc, "How do I learn Python?", "how do I learn python")
        assert await _grade(sc, hit, 0.0) == pytest.approx(WRONG_FACTOR)
        for score in (0.0, 0.0, 1.0, 1.0, 1.0):
            assert await _grade(sc, hit, score) == pytest.approx(WRONG_FACTOR), score
        row = (await sc.client.get(f"/arbiter/decisions/{hit}", headers=sc.auth)).json()
        assert row["grade"] == 1.0 and row["grader"] == "feedback"  # the grade still overridden
        # the control: another hit's verdict teaches the bound again
        other = await _semantic_hit(sc, "Why is the sky blue?", "why is the sky blue")
        assert await _grade(sc, other, 1.0) == pytest.approx(WRONG_FACTOR * CONFIRMED_FACTOR)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + SEMANTIC) as sc:
            await body(sc)

    asyncio.run(main())
