"""The semantic cache's pair model (arbiter.cache.pair_model, the shipped cross-encoder) inside
the matcher, with synthetic pairs written in tests/test_semantic_cache.py (never the evaluation
data): it decides only on candidates the cheap stage gates in, it reads the words that differ
(look-alike different questions are refused at the default bound), and without its file the
verifier alone decides."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from arbiter.cache.pair_model import PAIR_MODEL_PATH, PairModel
from arbiter.cache.semantic import SemanticMatcher, default_matcher, load_pair_model
from arbiter.cache.verifier import Calibration, Verifier
from tests.test_semantic_cache import NEAR_MISSES, SAME, add, embedder, look


def shipped() -> PairModel:
    pm = load_pair_model(embedder())
    assert pm is not None, f"{PAIR_MODEL_PATH} did not load"
    return pm


def test_the_shipped_pair_model_loads_with_a_monotone_curve() -> None:
    pm = shipped()
    assert PAIR_MODEL_PATH.stat().st_size < 8_000_000  # layers + head only, float16
    cal = pm.calibration
    assert list(cal.thresholds) == sorted(cal.thresholds)
    assert [cal.threshold(b) for b in (0.01, 0.02, 0.05, 0.1)] == sorted(
        cal.threshold(b) for b in (0.01, 0.02, 0.05, 0.1)
    )
    assert pm.p_false("How do I learn Python?", []).shape == (0,)


def test_look_alike_questions_are_refused_and_rephrasings_rank_first() -> None:
    """Each near miss scores a higher P(false) than the same question rephrased, and at the
    default bound none of the near misses is served."""
    pm = shipped()
    same = [float(pm.p_false(b, [a])[0]) for a, b in SAME]
    near = [float(pm.p_false(b, [a])[0]) for a, b in NEAR_MISSES]
    assert float(np.median(same)) < float(np.median(near)), (same, near)
    m = default_matcher(embedder(), 0.02)
    for i, (a, _) in enumerate(SAME + NEAR_MISSES):
        add(m, "t", "c", f"e{i}", a)
    assert [b for _, b in NEAR_MISSES if look(m, "t", "c", b) is not None] == []


def test_candidates_outside_the_gate_never_reach_the_pair_model() -> None:
    """The cheap stage's gate: a candidate the verifier rules out is a miss without the
    cross-encoder's cost, whatever the pair model would say."""
    pm = shipped()
    serve_all = Calibration((1.0,), (0.0,))
    closed = replace_gate(pm, gate=-1.0, calibration=serve_all)
    m = SemanticMatcher(embedder(), Verifier.load(), bound=0.02, pair_model=closed)
    add(m, "t", "c", "e1", "How do I learn Python?")
    assert look(m, "t", "c", "how do I learn python") is None
    assert m.counts["pair_model_calls"] == 0
    opened = replace_gate(pm, gate=1.0, calibration=serve_all)
    m.pair_model = opened
    found = look(m, "t", "c", "how do I learn python")
    assert found is not None and found.entry_id == "e1"
    assert m.counts["pair_model_calls"] == 1


def test_without_the_pair_model_file_the_verifier_alone_decides(tmp_path: Path) -> None:
    missing = tmp_path / "none.npz"
    assert load_pair_model(embedder(), missing) is None
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an npz")
    assert load_pair_model(embedder(), broken) is None
    m = SemanticMatcher(embedder(), Verifier.load(), bound=0.02, pair_model=None)
    assert m.calibration == Verifier.load().calibration


def replace_gate(pm: PairModel, *, gate: float, calibration: Calibration) -> PairModel:
    clone = copy.copy(pm)  # shares the weights
    clone.gate = gate
    clone.calibration = calibration
    return clone


def test_a_bound_that_admits_nothing_costs_no_lookup() -> None:
    """At a bound the calibration cannot certify (threshold -1: nothing is ever served), a
    lookup returns at once: neither stage runs for an answer that could not be served."""
    pm = shipped()
    none_certified = Calibration((0.5,), (0.9,))  # the one point's upper bound is 0.9
    m = SemanticMatcher(
        embedder(), Verifier.load(), bound=0.02,
        pair_model=replace_gate(pm, gate=1.0, calibration=none_certified),
    )  # fmt: skip
    add(m, "t", "c", "e1", "How do I learn Python?")
    assert look(m, "t", "c", "how do I learn python") is None
    assert m.counts["pair_model_calls"] == 0


def test_two_matching_entries_are_a_miss_under_the_ambiguity_rule() -> None:
    """The rule (a model file with ``rival``): when two stored entries, each with its own
    answer, both match the question, serving either may be the other asker's answer: a miss.
    One matching entry is served; without the rule the best of the two is."""
    pm = shipped()
    serve_all = Calibration((1.0,), (0.0,))
    ruled = replace_gate(pm, gate=1.0, calibration=serve_all)
    ruled.cross_k, ruled.rival = 2, 1.0  # every candidate read counts as a match
    m = SemanticMatcher(embedder(), Verifier.load(), bound=0.02, pair_model=ruled)
    add(m, "t", "c", "e1", "How do I learn Python?")
    found = look(m, "t", "c", "how do I learn python")
    assert found is not None and found.entry_id == "e1"  # one entry: nothing competes
    add(m, "t", "c", "e2", "How can I learn Python?")
    assert look(m, "t", "c", "how do I learn python") is None
    assert m.counts["pair_model_calls"] == 2
    ruled.rival = None  # the third pass's reading: the best is served
    assert look(m, "t", "c", "how do I learn python") is not None
    ruled.rival = 0.0  # a rival must match: none does at P(false) <= 0
    assert look(m, "t", "c", "how do I learn python") is not None


def test_a_pair_model_that_decides_first_takes_over_from_the_exact_stage() -> None:
    """Its file's ``decides_first`` (set only for a model that beat the exact stage on calib
    and holdout) makes it the decider, with its own curve; without it the exact stage decides."""
    from arbiter.cache.semantic import load_exact_stage

    pm, ex = shipped(), load_exact_stage(embedder())
    assert ex is not None
    m = SemanticMatcher(embedder(), Verifier.load(), bound=0.02, pair_model=pm, exact_stage=ex)
    assert (m.decider, m.calibration) == ("exact-stage", ex.calibration)
    first = copy.copy(pm)
    first.decides_first = True
    m.pair_model = first
    assert (m.decider, m.calibration) == ("pair-model", pm.calibration)
    m.pair_model = None
    assert m.decider == "exact-stage"
