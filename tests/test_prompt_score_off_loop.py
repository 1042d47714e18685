"""A long prompt's features and difficulty score are worked out off the event loop, once.

The features pass and the knowledge_embed score are linear in the prompt (~45 ms of CPU at 1 MB
of CJK on the dev box); on the loop they stalled every request in flight, and a wide model ran
the features pass a second time (bench/loop_time_by_prompt_size.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter import _native, prompt_score
from arbiter.difficulty import load, prompt_stats_and_shape
from tests.inproc import InProcess, recorded_decision, sidecar_in_process

BIG = "路由模型的成本与质量之间需要权衡。 Which one is cheaper? " * 25_000  # ~1 MB of UTF-8


def _edit(text: str) -> str:
    text = text.replace("[routing]\n", '[routing]\ndifficulty_model = "knowledge_embed"\n', 1)
    return text.replace("context_window = 32000", "context_window = 2000000")  # 1 MB is served


def _spy_features(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Every features pass: (text length, whether it ran on the event loop's thread)."""
    calls: list[tuple[int, bool]] = []
    real = _native.prompt_features
    loop_thread = threading.get_ident()

    def spy(text: str, dim: int) -> Any:
        calls.append((len(text), threading.get_ident() == loop_thread))
        return real(text, dim)

    monkeypatch.setattr(_native, "prompt_features", spy)
    return calls


async def _routed(sc: InProcess, text: str) -> dict[str, Any]:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
    assert r.status_code == 200, r.text[:300]
    return await recorded_decision(sc, r.headers["x-arbiter-decision-id"])


def test_a_1mb_prompt_is_scored_once_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_features(monkeypatch)

    async def main() -> tuple[float, float]:
        async with sidecar_in_process(tmp_path, edit_config=_edit) as sc:
            short = await _routed(sc, "Which bone is in the axial skeleton? A. femur B. sternum")
            assert [on for n, on in calls if n < 100] == [True]  # a short one stays inline
            calls.clear()
            big = await _routed(sc, BIG)
            return float(short["difficulty"]), float(big["difficulty"])

    _, got = asyncio.run(main())
    on_big = [on_loop for n, on_loop in calls if n == len(BIG)]
    assert on_big == [False], calls  # one pass (two before), in a worker thread (the loop before)
    monkeypatch.undo()
    # the score is the model's on the whole text, as inline
    assert got == pytest.approx(load("knowledge_embed").easiness(BIG), abs=1e-4)


def test_the_score_reads_one_features_pass_and_matches_two() -> None:
    model = load("knowledge_embed")
    for text in ("What is 2+2?", "def f(x):\n    return x\n" * 300, BIG[:40_000]):
        scored = prompt_score.score(text, model)
        assert scored.easiness == pytest.approx(model.easiness(text), abs=1e-6)
        assert (scored.stats, scored.shape) == prompt_stats_and_shape(text)


def test_only_a_long_prompt_goes_to_a_thread() -> None:
    short = "x " * (prompt_score.OFF_LOOP_CHARS // 2)
    assert asyncio.run(prompt_score.score_if_long(short, None)) is None
    long = "x" + short * 2
    got = asyncio.run(prompt_score.score_if_long(long, None))
    assert got is not None and got.easiness is None
