"""The semantic cache's exact stage (arbiter.cache.exact_stage: the exact MiniLM vectors of the
ask and the gated candidates) inside the matcher, with synthetic pairs written in
tests/test_semantic_cache.py (never the evaluation data): it decides only when the cheap stage
gates an ask in, it refuses look-alike questions at the default bound, the margin to a rival
entry counts against a hit, and without its file the pair model decides."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from arbiter.cache.exact_stage import EXACT_STAGE_PATH, ExactStage, exact_features
from arbiter.cache.semantic import SemanticMatcher, default_matcher, load_exact_stage
from arbiter.cache.verifier import Calibration, Verifier
from tests.test_semantic_cache import NEAR_MISSES, SAME, add, embedder, look


def shipped() -> ExactStage:
    st = load_exact_stage(embedder())
    assert st is not None, f"{EXACT_STAGE_PATH} did not load"
    return st


def with_gate(st: ExactStage, *, gate: float, calibration: Calibration) -> ExactStage:
    clone = copy.copy(st)  # shares the weights and the LRU
    clone.gate = gate
    clone.calibration = calibration
    return clone


def test_the_shipped_exact_stage_loads_with_a_monotone_curve() -> None:
    st = shipped()
    cal = st.calibration
    assert list(cal.thresholds) == sorted(cal.thresholds)
    bounds = (0.01, 0.02, 0.05, 0.1, 0.3)
    assert [cal.threshold(b) for b in bounds] == sorted(cal.threshold(b) for b in bounds)
    assert st.p_false("How do I learn Python?", [], []).shape == (0,)
    assert default_matcher(embedder(), 0.02).exact_stage is not None


def test_look_alike_questions_score_worse_than_rephrasings_and_are_not_served() -> None:
    st = shipped()
    same = [float(st.p_false(b, [a], [0.3])[0]) for a, b in SAME]
    near = [float(st.p_false(b, [a], [0.3])[0]) for a, b in NEAR_MISSES]
    assert float(np.median(same)) < float(np.median(near)), (same, near)
    m = default_matcher(embedder(), 0.02)
    for i, (a, _) in enumerate(SAME + NEAR_MISSES):
        add(m, "t", "c", f"e{i}", a)
    assert [b for _, b in NEAR_MISSES if look(m, "t", "c", b) is not None] == []


def test_a_close_rival_entry_raises_p_false() -> None:
    """Two stored questions nearly as close to the ask (distinct answers compete for it): the
    best one's P(false) is higher than when it stands alone."""
    st = shipped()
    alone = st.p_false("how can I learn python", ["How do I learn Python?"], [0.3])[0]
    rivals = st.p_false(
        "how can I learn python",
        ["How do I learn Python?", "How do I learn Python fast?"],
        [0.3, 0.3],
    )
    assert float(rivals[0]) > float(alone)
    x = exact_features([0.3, 0.3], [0.9, 0.89])
    assert x[0, 4] == np.float64(0.9 - 0.89) and x[0, 5] == 1.0


def test_asks_the_gate_rules_out_never_reach_the_exact_stage() -> None:
    st = shipped()
    serve_all = Calibration((1.0,), (0.0,))
    m = SemanticMatcher(
        embedder(), Verifier.load(), bound=0.02,
        exact_stage=with_gate(st, gate=-1.0, calibration=serve_all),
    )  # fmt: skip
    add(m, "t", "c", "e1", "How do I learn Python?")
    assert look(m, "t", "c", "how do I learn python") is None
    assert m.counts["exact_calls"] == 0
    m.exact_stage = with_gate(st, gate=1.0, calibration=serve_all)
    found = look(m, "t", "c", "how do I learn python")
    assert found is not None and found.entry_id == "e1"
    assert m.counts["exact_calls"] == 1


def test_stored_vectors_are_reused_and_the_lru_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import arbiter.cache.exact_stage as mod

    st = copy.copy(shipped())
    st._lru = type(st._lru)()
    monkeypatch.setattr(mod, "LRU_ENTRIES", 2)
    v1 = st.vectors("q", ["a", "b"])
    v2 = st.vectors("q", ["a", "b"])
    assert np.allclose(v1, v2, atol=1e-2)
    st.vectors("q", ["c"])
    assert list(st._lru) == ["b", "c"]


def test_without_the_exact_stage_file_the_pair_model_decides(tmp_path: Path) -> None:
    assert load_exact_stage(embedder(), tmp_path / "none.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert load_exact_stage(embedder(), broken) is None
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**json.loads(EXACT_STAGE_PATH.read_text()), "features": ["x"]}))
    assert load_exact_stage(embedder(), wrong) is None
