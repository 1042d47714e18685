"""The oracle analysis' scoring (arbiter.offline.semantic_oracle), on synthetic arrays: the
frontier counts only what is served within 20 false per 1,000, and the ambiguity rule turns an
ask with two matching entries into a miss."""

from __future__ import annotations

import numpy as np

from arbiter.offline.semantic_oracle import pair_auc, recall_at, simulate


def test_recall_at_stops_where_false_hits_pass_two_percent() -> None:
    right = np.array([True] * 49 + [False] + [True] * 10 + [False] * 5)
    score = -np.arange(len(right), dtype=np.float64)  # served in this order
    assert recall_at(score, right, dups=100) == 0.59  # 59 true, 1 false: 1.7% <= 2%
    missed = np.where(np.arange(len(right)) < 10, -np.inf, score)
    assert recall_at(missed, right, dups=100) == 0.49  # misses are never served


def test_a_near_perfect_verifier_with_the_rule_refuses_two_matches() -> None:
    rng = np.random.default_rng(0)
    n = 400
    same = np.zeros((n, 4), dtype=bool)
    own = np.zeros((n, 4), dtype=bool)
    same[:200, 0] = own[:200, 0] = True  # one matching entry: its own text_a
    same[200:300, :2] = True  # two entries mean the same: serving either is scored false
    out = simulate(same, own, 300, 0.99999, rng, (2.0,))
    assert out["t=2.0"] > 0.6 > out["no_rule"]
    assert 0.99 < pair_auc(same * 10.0 + rng.standard_normal(same.shape), same) <= 1.0
