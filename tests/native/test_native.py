"""Behaviour of arbiter._native from Python: results, determinism, errors, and a pure-Python
oracle for greedy `choose` compared on random inputs."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter import _native
from arbiter._native import Choice, NativeError, choose, prompt_features, update_arm

LOGIT_CLAMP = 30.0


def _sigmoid(x: float) -> float:
    x = min(max(x, -LOGIT_CLAMP), LOGIT_CLAMP)
    return 1.0 / (1.0 + math.exp(-x))


def _oracle_greedy(
    alpha: list[float],
    beta: list[float],
    cost: list[float],
    shift: list[float],
    baseline: int,
    quality_target: float,
) -> tuple[int, str, float, list[float]]:
    """Reference for choose(..., explore=0.0): returns (index, reason, target, means)."""
    means = [
        _sigmoid(math.log(a) - math.log(b) + s) for a, b, s in zip(alpha, beta, shift, strict=True)
    ]
    n = len(means)
    best = min(range(n), key=lambda i: (-means[i], cost[i], i))
    target = quality_target * (means[baseline] if baseline >= 0 else means[best])
    if n == 1:
        return 0, "only_candidate", target, means
    ok = [i for i in range(n) if means[i] >= target]
    if ok:
        return (
            min(ok, key=lambda i: (cost[i], -means[i], i)),
            "cheapest_meeting_target",
            target,
            means,
        )
    return best, "best_available", target, means


def test_greedy_picks_cheapest_good_enough() -> None:
    c = choose([9.0, 8.5, 5.0], [1.0, 1.5, 5.0], [10.0, 1.0, 0.1], [0.0] * 3, 0, 0.9, 0.0, 7)
    assert isinstance(c, Choice)
    assert c.index == 1
    assert c.reason == "cheapest_meeting_target"
    assert c.target == pytest.approx(0.81)
    assert c.means == pytest.approx([0.9, 0.85, 0.5])
    assert c.scores == c.means
    assert "cheapest_meeting_target" in repr(c)


def test_best_available_without_baseline_and_target_above_one() -> None:
    c = choose([1.0, 3.0], [1.0, 1.0], [1.0, 2.0], [0.0, 0.0], -1, 1.2, 0.0, 0)
    assert (c.index, c.reason) == (1, "best_available")


def test_single_candidate() -> None:
    c = choose([2.0], [2.0], [0.5], [0.0], -1, 0.9, 1.0, 3)
    assert (c.index, c.reason) == (0, "only_candidate")


def test_shift_raises_the_mean() -> None:
    lo = choose([3.0], [3.0], [0.0], [-1.0], -1, 1.0, 0.0, 0).means[0]
    hi = choose([3.0], [3.0], [0.0], [1.0], -1, 1.0, 0.0, 0).means[0]
    assert lo < 0.5 < hi
    assert hi == pytest.approx(_sigmoid(1.0))


def test_same_seed_same_choice_and_seeds_vary() -> None:
    args = ([5.0, 4.0, 3.0], [5.0, 5.0, 5.0], [3.0, 2.0, 1.0], [0.1, 0.0, -0.1], 0, 0.95, 1.0)
    a = choose(*args, 123)
    assert a == choose(*args, 123)
    assert len({tuple(choose(*args, seed).scores) for seed in range(20)}) == 20
    assert choose(*args, 2**64 - 1).reason == "cheapest_meeting_target"


def test_explore_interpolates_between_mean_and_sample() -> None:
    args = ([5.0, 4.0], [5.0, 5.0], [3.0, 2.0], [0.0, 0.0], 0, 0.95)
    full = choose(*args, 1.0, 9)
    half = choose(*args, 0.5, 9)
    for m, s_full, s_half in zip(full.means, full.scores, half.scores, strict=True):
        assert s_half == pytest.approx(m + 0.5 * (s_full - m))


def test_thompson_sample_mean_matches_posterior_mean() -> None:
    scores = [choose([2.0], [6.0], [0.0], [0.0], -1, 1.0, 1.0, s).scores[0] for s in range(4000)]
    assert np.mean(scores) == pytest.approx(0.25, abs=0.01)


ONE = ([1.0], [1.0], [0.0], [0.0])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (([], [], [], [], -1, 1.0, 0.0, 0), "empty"),
        (([1.0], [1.0, 1.0], [0.0], [0.0], -1, 1.0, 0.0, 0), "`beta`"),
        (([1.0], [1.0], [0.0, 0.0], [0.0], -1, 1.0, 0.0, 0), "`cost`"),
        (([1.0], [1.0], [0.0], [], -1, 1.0, 0.0, 0), "`shift`"),
        (([0.0], [1.0], [0.0], [0.0], -1, 1.0, 0.0, 0), "`alpha`[0]"),
        (([1.0], [-2.0], [0.0], [0.0], -1, 1.0, 0.0, 0), "`beta`[0]"),
        (([1.0], [math.nan], [0.0], [0.0], -1, 1.0, 0.0, 0), "`beta`[0]"),
        (([math.inf], [1.0], [0.0], [0.0], -1, 1.0, 0.0, 0), "`alpha`[0]"),
        (([1.0], [1.0], [-0.5], [0.0], -1, 1.0, 0.0, 0), "`cost`[0]"),
        (([1.0], [1.0], [math.inf], [0.0], -1, 1.0, 0.0, 0), "`cost`[0]"),
        (([1.0], [1.0], [0.0], [math.nan], -1, 1.0, 0.0, 0), "`shift`[0]"),
        ((*ONE, 1, 1.0, 0.0, 0), "baseline"),
        ((*ONE, -2, 1.0, 0.0, 0), "baseline"),
        ((*ONE, -1, 1.0, -0.1, 0), "explore"),
        ((*ONE, -1, 1.0, 1.1, 0), "explore"),
        ((*ONE, -1, 1.0, math.nan, 0), "explore"),
        ((*ONE, -1, 0.0, 0.0, 0), "quality_target"),
        ((*ONE, -1, -1.0, 0.0, 0), "quality_target"),
        ((*ONE, -1, math.inf, 0.0, 0), "quality_target"),
    ],
)
def test_choose_rejects_bad_input(args: tuple[object, ...], needle: str) -> None:
    with pytest.raises(ValueError) as info:
        choose(*args)  # type: ignore[arg-type]
    assert isinstance(info.value, NativeError)
    assert needle in str(info.value)


def test_seed_out_of_range_is_overflow() -> None:
    with pytest.raises(OverflowError):
        choose(*ONE, -1, 1.0, 0.0, -1)


def test_choice_is_frozen() -> None:
    c = choose(*ONE, -1, 1.0, 0.0, 0)
    with pytest.raises(AttributeError):
        c.index = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Choice()


@st.composite
def _arms(draw: st.DrawFn) -> tuple[list[float], list[float], list[float], list[float], int, float]:
    n = draw(st.integers(1, 12))
    pos = st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)
    alpha = draw(st.lists(pos, min_size=n, max_size=n))
    beta = draw(st.lists(pos, min_size=n, max_size=n))
    # Few distinct costs so that cost ties (and their tie-breaks) are exercised.
    cost = draw(st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.5, 2.0]), min_size=n, max_size=n))
    shift = draw(st.lists(st.floats(-5.0, 5.0), min_size=n, max_size=n))
    baseline = draw(st.integers(-1, n - 1))
    q = draw(st.floats(0.05, 1.5))
    return alpha, beta, cost, shift, baseline, q


@settings(max_examples=300, deadline=None)
@given(_arms(), st.integers(0, 2**64 - 1))
def test_greedy_choose_matches_python_oracle(
    arms: tuple[list[float], list[float], list[float], list[float], int, float], seed: int
) -> None:
    alpha, beta, cost, shift, baseline, q = arms
    got = choose(alpha, beta, cost, shift, baseline, q, 0.0, seed)
    index, reason, target, means = _oracle_greedy(alpha, beta, cost, shift, baseline, q)
    assert got.means == pytest.approx(means, rel=1e-12, abs=1e-15)
    assert got.target == pytest.approx(target, rel=1e-12)
    assert (got.index, got.reason) == (index, reason)


@settings(max_examples=200, deadline=None)
@given(_arms(), st.floats(0.0, 1.0), st.integers(0, 2**64 - 1))
def test_choice_meets_target_or_is_best(
    arms: tuple[list[float], list[float], list[float], list[float], int, float],
    explore: float,
    seed: int,
) -> None:
    alpha, beta, cost, shift, baseline, q = arms
    c = choose(alpha, beta, cost, shift, baseline, q, explore, seed)
    assert all(0.0 < s < 1.0 for s in c.scores)
    if c.reason == "cheapest_meeting_target":
        assert c.scores[c.index] >= c.target
        assert all(cost[i] >= cost[c.index] for i, s in enumerate(c.scores) if s >= c.target)
    elif c.reason == "best_available":
        assert c.scores[c.index] == max(c.scores)
    else:
        assert len(alpha) == 1


def test_update_arm_adds_and_retracts() -> None:
    a, b = update_arm(1.0, 1.0, 0.75, 2.0)
    assert (a, b) == (2.5, 1.5)
    assert update_arm(a, b, 0.75, -2.0) == (1.0, 1.0)
    assert update_arm(0.2, 0.2, 1.0, -5.0) == (0.0, 0.2)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((1.0, 1.0, 1.5, 1.0), "reward"),
        ((1.0, 1.0, -0.1, 1.0), "reward"),
        ((1.0, 1.0, math.nan, 1.0), "reward"),
        ((1.0, 1.0, 0.5, math.inf), "weight"),
        ((-1.0, 1.0, 0.5, 1.0), "alpha"),
        ((1.0, math.nan, 0.5, 1.0), "beta"),
    ],
)
def test_update_arm_rejects_bad_input(args: tuple[float, float, float, float], needle: str) -> None:
    with pytest.raises(NativeError, match=needle):
        update_arm(*args)


def _feats(text: str, dim: int = 64) -> np.ndarray:
    return np.frombuffer(prompt_features(text, dim), dtype="<f4")


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_prompt_features_layout_and_hashing() -> None:
    text = "Hello, World"
    f = _feats(text, 128)
    assert f.shape == (128,)
    want = np.zeros(112)
    for tok in ["hello", ",", "world", "hello ,", ", world"]:
        h = _fnv1a(tok.encode())
        want[h % 112] += -1.0 if h >> 63 else 1.0
    want /= np.linalg.norm(want)
    np.testing.assert_allclose(f[:112], want, rtol=1e-6, atol=1e-7)
    stats = f[112:]
    assert stats[0] == pytest.approx(math.log1p(len(text)) / 10)
    assert stats[1] == pytest.approx(math.log1p(2) / 8)
    assert stats[3] == pytest.approx(2 / len(text))
    assert stats[15] == 1.0


def test_prompt_features_statistics() -> None:
    code = "```python\ndef f(x):\n    return x**2 + 1\n```\nWhat is f(3)?"
    s = _feats(code)[48:]
    assert s[7] > 0.5  # code-likeness
    assert s[8] == pytest.approx(0.2)  # one question mark
    assert s[13] == 1.0  # fence
    prose = _feats("The cat sat on the mat. It was happy.")[48:]
    assert prose[7] == 0.0
    assert prose[13] == 0.0
    assert prose[14] == pytest.approx(math.log1p(2) / 5)


def test_prompt_features_empty_and_whitespace() -> None:
    for text in ["", "   \n\t "]:
        f = _feats(text)
        assert not f[:48].any()
        assert f[63] == 1.0


@pytest.mark.parametrize("dim", [0, 8, 56, 63, 65, 100])
def test_prompt_features_rejects_bad_dim(dim: int) -> None:
    with pytest.raises(NativeError, match="dim"):
        prompt_features("x", dim)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(8, 64))
def test_prompt_features_finite_normalised_deterministic(text: str, k: int) -> None:
    dim = 8 * k
    raw = prompt_features(text, dim)
    assert raw == prompt_features(text, dim)
    f = np.frombuffer(raw, dtype="<f4")
    assert f.shape == (dim,)
    assert np.isfinite(f).all()
    norm = float(np.linalg.norm(f[: dim - 16]))
    # Python's and Rust's whitespace sets differ at the edges (e.g. U+001F), so only require
    # a unit norm when some char is unambiguously a token.
    if any(ch.isalnum() for ch in text):
        assert norm == pytest.approx(1.0, abs=1e-4)
    else:
        assert norm == pytest.approx(1.0, abs=1e-4) or norm == 0.0


def test_module_exports() -> None:
    assert sorted(_native.__all__) == [
        "Choice",
        "LengthTable",
        "LinearRegex",
        "LogLinear",
        "NativeError",
        "PackedArms",
        "Prices",
        "choose",
        "count_tokens",
        "decide_request",
        "decide_rows",
        "decide_rows_by_cost",
        "gauss_pairs",
        "json_depth",
        "json_element_groups",
        "json_members",
        "pack_arms",
        "prompt_features",
        "request_costs",
        "round_floats",
        "slope_noise",
        "update_arm",
    ]
    assert issubclass(NativeError, ValueError)


def _table(a: np.ndarray, b: np.ndarray, mean: np.ndarray | None = None) -> bytes:
    n = len(a)
    slope = np.zeros(n) if mean is None else mean
    return _native.pack_arms(
        a.tobytes(), b.tobytes(), np.ones(n).tobytes(), slope.tobytes(), np.ones(n).tobytes(),
        np.zeros(n).tobytes(),
    )  # fmt: skip


def test_decide_rows_is_choose_over_a_packed_table() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 50):
        # shapes on both sides of the Gaussian draw's threshold (30)
        a, b = rng.random(n) * 60 + 0.1, rng.random(n) * 60 + 0.1
        cost, slope = rng.random(n) * 1e-3, rng.normal(size=n) * 0.3
        e = 0.7  # learned slopes centred at 0, precision 1: shift = slope * e + explore z e
        table = _table(a, b, slope)
        for explore, weight in ((1.0, 0.0), (0.0, 0.0), (0.5, 2.0)):
            z = np.frombuffer(_native.slope_noise(11, n)) if explore else np.zeros(n)
            want = _native.choose(
                a.tolist(), b.tolist(), cost.tolist(), (slope * e + explore * (z * e)).tolist(),
                n - 1, 0.9, explore, 11, weight,
            )  # fmt: skip
            index, reason, target, scores, means, top = _native.decide_rows(
                table, b"", cost.tobytes(), e, 0.0, n - 1, 0.9, explore, 11, weight, 3
            )
            assert (index, reason, target) == (want.index, want.reason, want.target)
            assert np.frombuffer(scores).tolist() == want.scores
            assert np.frombuffer(means).tolist() == want.means
            assert top == np.argsort(-np.array(want.scores), kind="stable")[:3].tolist()
            # a subset of rows (picks) is the same as a table of those rows
            picks = np.arange(n)[::2]
            sub = _native.decide_rows(
                table, picks.tobytes(), cost[picks].tobytes(), e, 0.0, -1, 0.9, explore, 11,
                weight,
            )  # fmt: skip
            whole = _native.decide_rows(
                _table(a[picks], b[picks], slope[picks]), b"", cost[picks].tobytes(), e, 0.0,
                -1, 0.9, explore, 11, weight,
            )  # fmt: skip
            assert sub == whole


def test_packed_kernels_reject_bad_input() -> None:
    one = np.ones(1).tobytes()
    with pytest.raises(NativeError, match="beta"):
        _native.pack_arms(one, b"\x00" * 7, one, one, one, one)
    with pytest.raises(NativeError, match="alpha"):
        _native.pack_arms(np.zeros(1).tobytes(), one, one, one, one, one)
    with pytest.raises(NativeError, match="gauss_above"):
        _native.pack_arms(one, one, one, one, one, one, float("nan"))
    table = _table(np.ones(2), np.ones(2))
    with pytest.raises(NativeError, match="table"):
        _native.decide_rows(table[:-1], b"", one, None, 0.0, -1, 0.9, 1.0, 1)
    with pytest.raises(NativeError, match="picks"):
        _native.decide_rows(table, np.array([5]).tobytes(), one, None, 0.0, -1, 0.9, 1.0, 1)
    with pytest.raises(NativeError, match="cost"):
        _native.decide_rows(table, b"", one, 0.5, 0.0, -1, 0.9, 1.0, 1)
    with pytest.raises(NativeError, match="easiness"):
        _native.decide_rows(table, b"", one * 2, float("inf"), 0.0, -1, 0.9, 1.0, 1)
    prices = _native.Prices([1.0], [2.0])
    stats = _stats([0.0] * 15 + [1.0])
    with pytest.raises(NativeError, match="rows"):
        _native.request_costs(prices, None, None, (0.0, 1.0), 1.0, None, 1.0, _rows([1]))
    with pytest.raises(NativeError, match="lengths"):
        lengths = _native.LengthTable(2, 5.0)
        _native.request_costs(prices, lengths, stats, (0.0, 1.0), 1.0, None, 1.0, _rows([0]))
    with pytest.raises(NativeError, match="weights"):
        _native.LengthTable(1, 5.0).set(0, [0.0] * 15, 1.0, False)
    with pytest.raises(NativeError, match="noise_var"):
        _native.LengthTable(1, 5.0).set(0, [0.0] * 16, 0.0, False)
    with pytest.raises(NativeError, match="price_in"):
        _native.Prices([-1.0], [1.0])
    arms = _native.PackedArms(one, one, one, one, one, one)
    with pytest.raises(NativeError, match="row"):
        arms.set(1, 1.0, 1.0, False, 0.0, 1.0, 0.0)
    with pytest.raises(NativeError, match="alpha"):
        arms.set(0, 0.0, 1.0, False, 0.0, 1.0, 0.0)
    arms.set(0, 2.0, 3.0, True, 0.5, 4.0, 0.1)  # the row a fresh pack of those values gives
    assert arms.to_bytes() == _native.pack_arms(
        *(np.array([x]).tobytes() for x in (2.0, 3.0, 1.0, 0.5, 4.0, 0.1))
    )
    with pytest.raises(NativeError, match="words"):
        _native.gauss_pairs(b"\x00" * 15)


def test_request_costs_follow_each_rows_regression_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    stats = _stats([float(x) for x in rng.random(15)] + [1.0])
    regs = []
    for _ in range(4):
        w = rng.normal(size=16) * 0.2
        regs.append(_native.LogLinear(w.tolist(), np.eye(16).ravel().tolist(), 0.7))
        regs[-1].observe(stats, 4.0, 1.0)
    max_log = math.log1p(1e6)
    lengths = _native.LengthTable(5, max_log)  # row 4: the pool's prediction
    for i, r in enumerate(regs):
        lengths.set(i, r.weights, r.noise_var, i % 2 == 1)  # odd rows: offsets from the pool
    p_in, p_out = rng.random(5).tolist(), (rng.random(5) * 30).tolist()
    prices = _native.Prices(p_in, p_out)
    moments = (1.25, 0.5)
    got = _native.request_costs(
        prices, lengths, stats, moments, 300.0, 900.0, 350.0, _rows(range(5))
    )
    want = []
    for i in range(5):
        if i == 4:
            log_mean, noise = moments
        else:
            log_mean = (moments[0] if i % 2 else 0.0) + regs[i].mean(stats)
            noise = regs[i].noise_var
        out = min(max(math.expm1(min(log_mean + noise / 2, max_log)), 1.0), 900.0)
        want.append((300.0 * p_in[i] + out * p_out[i] + 0.0) / 1e6)
    assert np.frombuffer(got).tolist() == want
    # without stats: the default answer length, capped
    flat = _native.request_costs(prices, lengths, None, moments, 10.0, 100.0, 350.0, _rows([2]))
    assert np.frombuffer(flat).tolist() == [(10.0 * p_in[2] + 100.0 * p_out[2] + 0.0) / 1e6]


def _rows(rows: Iterable[int]) -> bytes:
    return np.array(list(rows), dtype="<i8").tobytes()


def _stats(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def test_log_linear_matches_a_batch_ridge_fit() -> None:
    rng = np.random.default_rng(5)
    x = np.hstack([rng.random((30, 15)), np.ones((30, 1))]).astype("<f4")
    y = rng.normal(4.0, 1.0, 30)
    prior = np.eye(16) * 2.0
    m = _native.LogLinear([0.0] * 16, prior.ravel().tolist(), 1.0)
    for xi, yi in zip(x, y, strict=True):
        m.observe(xi.tobytes(), float(yi), 1.0)
    xd = x.astype(np.float64)
    batch = np.linalg.solve(prior + xd.T @ xd, xd.T @ y)
    assert np.allclose(m.weights, batch, atol=1e-9)
    assert m.mean(x[0].tobytes()) == pytest.approx(float(xd[0] @ batch), abs=1e-9)
    assert 0 < m.mean_sd(x[0].tobytes()) < 1.0
    assert 0 < m.noise_var <= 2.0


def test_log_linear_refuses_bad_input() -> None:
    eye = np.eye(16).ravel().tolist()
    with pytest.raises(NativeError, match="weights"):
        _native.LogLinear([0.0] * 3, eye, 1.0)
    with pytest.raises(NativeError, match="positive definite"):
        _native.LogLinear([0.0] * 16, (-np.eye(16)).ravel().tolist(), 1.0)
    with pytest.raises(NativeError, match="noise_var"):
        _native.LogLinear([0.0] * 16, eye, 0.0)
    m = _native.LogLinear([0.0] * 16, eye, 1.0)
    with pytest.raises(NativeError, match="stats"):
        m.mean(b"\x00" * 12)
    with pytest.raises(NativeError, match="weight"):
        m.observe(_stats([0.0] * 15 + [1.0]), 1.0, -1.0)
    with pytest.raises(NativeError, match="`y`"):
        m.observe(_stats([0.0] * 15 + [1.0]), float("nan"), 1.0)
