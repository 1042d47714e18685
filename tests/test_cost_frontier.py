"""Static two-model curves on both axes (arbiter.offline.cost_frontier), on synthetic tables."""

from __future__ import annotations

import numpy as np
import pytest

from arbiter.offline import cost_frontier as cf


def _pair(n: int = 200, seed: int = 0) -> tuple[cf.Pair, np.ndarray]:
    """Half the prompts are hard (the strong model gains there); prompt cost varies 1-20x and is
    unrelated to the gain, so only a cost-aware order can win on the dollar axis."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.5
    qs = np.ones(n)
    qw = np.where(hard, 0.0, 1.0)
    size = rng.uniform(1.0, 20.0, n)
    gain = np.where(hard, 0.9, 0.1)  # a good (not perfect) gain estimate
    return cf.Pair(qs, qw, 1e-3 * size, 1e-5 * size), gain


def test_knapsack_order_ranks_by_gain_per_cost_and_is_stable() -> None:
    gain = np.asarray([0.2, 0.4, 0.4, 0.1])
    cost = np.asarray([1.0, 4.0, 1.0, 0.1])
    assert cf.knapsack_order(gain, cost, 0.0).tolist() == [1, 2, 0, 3]  # by gain, ties in order
    assert cf.knapsack_order(gain, cost, 1.0).tolist() == [3, 2, 0, 1]  # 1.0, 0.4, 0.2, 0.1


def test_the_knapsack_order_wins_the_dollar_axis_not_the_call_axis() -> None:
    pair, gain = _pair()
    extra = pair.c_strong - pair.c_weak
    by_gain = cf.sweep(pair, cf.knapsack_order(gain, extra, 0.0))
    by_ratio = cf.sweep(pair, cf.knapsack_order(gain, extra, 1.0))
    assert by_ratio["apgr_cost"] > by_gain["apgr_cost"] + 0.05
    assert by_gain["apgr"] > by_ratio["apgr"]
    # the gain-only order is cost-blind: both axes read the same up to noise
    assert by_gain["apgr_cost"] == pytest.approx(by_gain["apgr"], abs=0.05)


def test_direct_escalation_saves_only_the_cheap_calls_of_escalated_prompts() -> None:
    pair, gain = _pair()
    order = cf.knapsack_order(gain, pair.c_strong, 0.0)
    cascade = cf.sweep(pair, order, cascade=True)
    direct = cf.sweep(pair, order, cascade=False)
    assert direct["apgr"] == cascade["apgr"]  # same prompts escalate: the call axis is unmoved
    assert direct["apgr_cost"] > cascade["apgr_cost"]
    # the cheap model costs 1% of the strong one here, so skipping its call buys about that much
    assert direct["apgr_cost"] - cascade["apgr_cost"] < 0.02


def test_sweep_end_points_and_bad_input() -> None:
    pair, _ = _pair(50)
    r = cf.sweep(pair, np.arange(50))
    assert 0.0 < r["apgr"] < 1.0 and r["cpt80"] is not None and r["cpt80"] <= 100.0
    flat = cf.Pair(np.ones(3), np.ones(3), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="quality gap"):
        cf.sweep(flat, np.arange(3))


def test_gain_model_recovers_which_prompts_gain() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 2))
    qs = np.ones(600)
    qw = (x[:, 0] < 0).astype(float)  # the cheap model fails where the first feature is >= 0
    pair = cf.Pair(qs, qw, np.ones(600), np.ones(600))
    g = cf.predicted_gain(x, cf.gain_model(x, pair))
    assert g[x[:, 0] > 1].mean() > 0.8 > 0.2 > g[x[:, 0] < -1].mean()


def test_escalate_first_only_where_the_cheap_call_is_expected_to_be_wasted() -> None:
    # cascade: c_cheap + P(fail) x c_strong; direct: c_strong. Cheap at 1% of strong: the cheap
    # attempt pays unless P(fail) > 0.99
    p = np.asarray([0.5, 0.98, 0.995, 1.0])
    skip = cf.escalate_first(p, np.full(4, 0.01), np.ones(4))
    assert skip.tolist() == [False, False, True, True]
    # a cheap model at half the strong price: skip once failing is likelier than not
    half = cf.escalate_first(np.asarray([0.4, 0.6]), np.full(2, 0.5), np.ones(2))
    assert half.tolist() == [False, True]


def test_sweep_direct_saves_the_cheap_calls_of_the_direct_prompts_only() -> None:
    pair, gain = _pair()
    none = np.zeros(len(gain), bool)
    plain = cf.sweep_direct(pair, gain, none)
    # no direct prompts: the cascade's own curve (same order, cheap call charged everywhere)
    assert plain["apgr"] == cf.sweep(pair, np.argsort(-gain, kind="stable"), cascade=True)["apgr"]
    # the prompts the cheap model fails, sent directly: the score already escalates them first,
    # so the call axis is unmoved and the dollar axis saves their cheap calls (1% here), no more
    hard = pair.q_weak < 0.5
    direct = cf.sweep_direct(pair, gain, hard)
    assert direct["apgr"] == plain["apgr"]
    assert 0.0 < direct["apgr_cost"] - plain["apgr_cost"] < 0.02
    # with a blind score (random order) they also lead the escalations: both axes gain
    blind = np.random.default_rng(3).random(len(gain))
    lead = cf.sweep_direct(pair, blind, hard)
    assert lead["apgr"] > cf.sweep_direct(pair, blind, none)["apgr"] + 0.2
    # skipping the cheap call where it would have been right costs quality at every budget
    wasted = cf.sweep_direct(pair, gain, ~hard)
    assert wasted["apgr"] < plain["apgr"] and wasted["apgr_cost"] < plain["apgr_cost"]
    flat = cf.Pair(np.ones(3), np.ones(3), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="quality gap"):
        cf.sweep_direct(flat, np.arange(3.0), np.zeros(3, bool))
