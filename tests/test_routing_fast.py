"""The array path of Router.decide against the per-model reference (decide_reference): the same
pool, policy, requests and seed must give the same decision, including the random draws; and
the sampler both share (exact Gamma draws, a Gaussian past 30 on both Beta shapes) against an
exact Beta sampler: the same choice distribution."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from arbiter.difficulty import prompt_stats
from arbiter.errors import ArbiterError
from arbiter.output_length import OutputLength
from arbiter.policy import Policy
from arbiter.routing import (
    RECORD_ALL,
    RECORD_TOP,
    PoolModel,
    Router,
    RouteRequest,
    RouterParams,
)
from arbiter.routing_fast import gauss_draws

CAPS = ("tools", "json", "vision")
TEXTS = ("What is 2+2?", "Write an essay on the history of Rome. " * 20, "def f(x): return x")


def _random_pool(rng: random.Random, n: int) -> list[PoolModel]:
    return [
        PoolModel(
            f"m{i}",
            round(rng.uniform(0.05, 20.0), 2),
            round(rng.uniform(0.1, 60.0), 2),
            rng.choice((4_000, 8_000, 32_000, 128_000)),
            frozenset(c for c in CAPS if rng.random() < 0.7),
            {"chat": rng.uniform(0.4, 0.95)} if rng.random() < 0.8 else {},
            # audio prices and fast multiples: what a request asking for them is priced at
            price_audio_in_per_mtok=rng.choice((None, 40.0)),
            price_audio_out_per_mtok=rng.choice((None, 80.0)),
            fast_factor=rng.choice((2.0, 6.0)),
        )
        for i in range(n)
    ]


def _pair(rng: random.Random, pool: list[PoolModel], seed: int) -> tuple[Router, Router]:
    params = RouterParams(
        baseline=rng.choice([m.name for m in pool] + ["absent"]),
        quality_target=rng.choice((0.8, 0.95)),
        explore=rng.choice((0.0, 0.5, 1.0)),
        cost_weight=rng.choice((0.0, 0.0, 5.0)),
        max_fallbacks=rng.choice((0, 2, 4)),
    )
    down = {m.name for m in pool if rng.random() < 0.05}
    policy, lengths = Policy(), OutputLength(params.expected_output_tokens)
    return tuple(  # type: ignore[return-value]
        Router(
            pool, params, policy, seed=seed, is_available=lambda n: n not in down, lengths=lengths
        )
        for _ in range(2)
    )


def _request(rng: random.Random, pool: list[PoolModel]) -> tuple[RouteRequest, list[str] | None]:
    stats = prompt_stats(rng.choice(TEXTS)) if rng.random() < 0.8 else None
    req = RouteRequest(
        "t" if rng.random() < 0.7 else "u",
        "chat",
        rng.choice((50, 3_000, 20_000)),
        rng.choice((None, 16, 2_000)),
        frozenset(c for c in CAPS if rng.random() < 0.2),
        rng.gauss(0.0, 1.0) if rng.random() < 0.7 else None,
        stats,
        audio_tokens=rng.choice((0, 0, 40)),
        spoken=rng.random() < 0.2,
        fast=rng.random() < 0.2,
    )
    allowed = sorted(m.name for m in pool if rng.random() < 0.8) if rng.random() < 0.3 else None
    return req, allowed


def _outcome(router: Router, req: RouteRequest, allowed: list[str] | None) -> object:
    try:
        return router.decide(req, allowed)
    except ArbiterError as err:
        return (type(err), str(err))


@pytest.mark.parametrize("trial", range(12))
def test_the_array_path_decides_exactly_as_the_reference(trial: int) -> None:
    rng = random.Random(trial)
    pool = _random_pool(rng, rng.choice((1, 2, 5, 20, 60, 200)))
    fast, ref = _pair(rng, pool, seed=trial)
    for step in range(60):
        req, allowed = _request(rng, pool)
        got = _outcome(fast, req, allowed)
        try:
            want: object = ref.decide_reference(req, allowed)
        except ArbiterError as err:
            want = (type(err), str(err))
        if isinstance(want, tuple):
            assert got == want
            continue
        assert not isinstance(got, tuple)
        assert (got.chosen, got.fallbacks, got.target) == (want.chosen, want.fallbacks, want.target)
        eligible = [c for c in want.candidates if c.eligible]
        if len(eligible) <= RECORD_ALL and len(want.candidates) - len(eligible) <= RECORD_ALL:
            assert got == want, f"step {step}"
        else:  # summarised: every recorded candidate is the reference's, the chosen among them
            by_name = {c.model: c for c in want.candidates}
            kept = [c for c in got.candidates if c.eligible]
            assert all(by_name[c.model] == c for c in kept)
            assert got.chosen in {c.model for c in kept}
        # both learn the same grades, so the policy and the length model move between decisions
        chosen = got.chosen
        reward = float(rng.random() < 0.6)
        fast.learn(req.tenant, req.task, chosen, reward, easiness=req.easiness)
        if req.stats is not None:
            fast.lengths.observe(chosen, req.stats, rng.randrange(1, 3_000))


def test_summarised_decisions_record_the_examined_cheapest_first() -> None:
    """Past RECORD_ALL models the pass draws the baseline, then cheapest first, and stops once
    the pick and the fallbacks are known: the record is what it examined (before: the 16 best
    scores of all 1,000 draws), each as the reference computes it."""
    rng = random.Random(7)
    pool = _random_pool(rng, 1_000)
    pool = [PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, 128_000,
                      frozenset(CAPS), m.priors) for m in pool]  # fmt: skip
    fast, ref = (Router(pool, RouterParams(baseline="m3", explore=1.0)) for _ in range(2))
    short = 0
    for _ in range(20):
        req = RouteRequest("t", "chat", 100, 100, easiness=0.3)
        d, want = fast.decide(req), ref.decide_reference(req)
        assert (d.chosen, d.fallbacks, d.reason) == (want.chosen, want.fallbacks, want.reason)
        names = [c.model for c in d.candidates]
        assert {d.chosen, "m3", *d.fallbacks} <= set(names)
        assert len(names) <= RECORD_TOP
        assert "1000 model" not in d.reason and "ineligible" not in d.reason
        by_name = {c.model: c for c in want.candidates}
        assert all(by_name[c.model] == c for c in d.candidates)
        if len(names) < RECORD_TOP:  # all it examined: the baseline, then cheapest first
            cheapest = sorted(
                (c for c in want.candidates if c.model != "m3"),
                key=lambda c: (c.est_cost_usd, int(c.model[1:])),
            )
            others = {n for n in names if n != "m3"}
            assert others == {c.model for c in cheapest[: len(others)]}
            short += 1
    assert short >= 15, "most decisions examine a few models"


def test_fallbacks_are_the_next_cheapest_models_that_clear_the_bar() -> None:
    """Failover goes to the model the rule would pick were the pick down: the next cheapest
    that clear the bar (before: the best-scoring models, usually the priciest), at a small
    pool (every model drawn) and past RECORD_ALL (the scan stopped early)."""
    quality = {"c1": 0.5, "c2": 0.85, "c3": 0.6, "c4": 0.82, "c5": 0.95, "top": 0.9}
    pool = [
        PoolModel(name, 0.1 * (i + 1), 0.2 * (i + 1), 128_000, frozenset(), {"chat": q})
        for i, (name, q) in enumerate(quality.items())
    ]
    fillers = [  # past RECORD_ALL: pricier models that clear the bar, and cheap ones that do not
        PoolModel(f"f{i}", 10.0 + i, 20.0 + i, 128_000, frozenset(), {"chat": 0.97})
        for i in range(40)
    ] + [PoolModel(f"g{i}", 0.01, 0.01, 128_000, frozenset(), {"chat": 0.3}) for i in range(40)]
    params = RouterParams(baseline="top", quality_target=0.9, explore=0.0, max_fallbacks=2)
    req = RouteRequest("t", "chat", 100, 100)
    for models in (pool, pool + fillers):
        fast, ref = Router(models, params), Router(models, params)
        d, want = fast.decide(req), ref.decide_reference(req)
        assert (d.chosen, d.fallbacks) == ("c2", ("c4", "c5")), len(models)
        assert (d.reason, d.target, d.fallbacks) == (want.reason, want.target, want.fallbacks)
    # best value: the next best values
    valued = RouterParams(baseline="top", explore=0.0, cost_weight=0.5, max_fallbacks=3)
    d = Router(pool + fillers, valued).decide(req)
    value = {c.model: c.score - 500.0 * c.est_cost_usd for c in d.candidates if c.eligible}
    ranked = sorted(value, key=lambda n: -value[n])
    assert (d.chosen, *d.fallbacks) == tuple(ranked[:4])


@pytest.mark.parametrize("cost_weight", [0.0, 2.0])
def test_early_stopped_decisions_match_the_reference_at_scale(cost_weight: float) -> None:
    """300 eligible models (the scan stops early), every rule's knobs, fallbacks up to 4,
    learning between decisions: decide is decide_reference, pick, fallbacks and reason."""
    rng = random.Random(11)
    pool = _random_pool(rng, 300)
    pool = [PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, 128_000,
                      frozenset(CAPS), m.priors) for m in pool]  # fmt: skip
    for explore, fallbacks in ((1.0, 4), (0.5, 2), (0.0, 0)):
        params = RouterParams(
            baseline="m5", explore=explore, cost_weight=cost_weight, max_fallbacks=fallbacks
        )
        policy, lengths = Policy(), OutputLength(params.expected_output_tokens)
        fast, ref = (Router(pool, params, policy, seed=3, lengths=lengths) for _ in range(2))
        for step in range(25):
            text = TEXTS[step % len(TEXTS)]
            stats = prompt_stats(text) if step % 3 else None
            req = RouteRequest("t", "chat", 100, 500, easiness=rng.gauss(0, 1), stats=stats)
            got, want = fast.decide(req), ref.decide_reference(req)
            assert (got.chosen, got.fallbacks, got.reason, got.target) == (
                want.chosen, want.fallbacks, want.reason, want.target,
            ), step  # fmt: skip
            assert len(got.fallbacks) == fallbacks
            fast.learn("t", "chat", got.chosen, float(rng.random() < 0.7), easiness=req.easiness)


def test_bulk_gauss_draws_leave_the_generator_where_single_draws_would() -> None:
    for n in (0, 1, 2, 3, 10, 11):
        for primed in (False, True):
            a, b = random.Random(n), random.Random(n)
            if primed:  # one draw leaves half a pair cached
                a.gauss(0.0, 1.0)
                b.gauss(0.0, 1.0)
            want = [a.gauss(0.0, 1.0) for _ in range(n)]
            assert gauss_draws(b, n).tolist() == want
            assert b.gauss(0.0, 1.0) == a.gauss(0.0, 1.0)
            assert b.random() == a.random()


def test_the_per_task_arrays_are_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import arbiter.routing as routing

    monkeypatch.setattr(routing, "MAX_TABLE_CELLS", 100 * 5)  # 5 models: 100 tables
    pool = _random_pool(random.Random(1), 5)
    pool = [PoolModel(m.name, 1.0, 1.0, 128_000, frozenset(CAPS), {}) for m in pool]
    router = Router(pool, RouterParams(baseline="m0"))
    for t in range(150):
        router.decide(RouteRequest(f"t{t}", "chat", 10, 10))
    assert len(router._tables) == 100
    assert ("t0", "chat") not in router._tables and ("t149", "chat") in router._tables
    # an evicted (tenant, task) decides exactly as before: its arrays are rebuilt
    ref = Router(pool, RouterParams(baseline="m0"))
    ref._counter = router._counter
    assert router.decide(RouteRequest("t0", "chat", 10, 10)) == ref.decide_reference(
        RouteRequest("t0", "chat", 10, 10)
    )


def test_the_packed_arm_table_is_built_once_and_repacked_per_moved_arm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from arbiter import _native

    builds: list[int] = []
    repacked: list[int] = []
    packed_arms = _native.PackedArms

    class Counting:
        def __init__(self, *args: bytes) -> None:
            builds.append(1)
            self.table = packed_arms(*args)

        def set(self, row: int, *values: float) -> None:
            repacked.append(row)
            self.table.set(row, *values)  # type: ignore[arg-type]

    monkeypatch.setattr(_native, "PackedArms", Counting)
    real_decide = _native.decide_request

    def decide(*args: object) -> object:
        args = tuple(a.table if isinstance(a, Counting) else a for a in args)
        return real_decide(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_native, "decide_request", decide)
    pool = _random_pool(random.Random(2), 50)
    router = Router(pool, RouterParams(baseline="m0"))
    req = RouteRequest("t", "chat", 10, 10, easiness=0.2)
    for _ in range(20):
        router.decide(req)
    assert (len(builds), repacked) == (1, [])
    router.learn("t", "chat", "m1", 1.0, easiness=0.2)  # the policy moved one arm
    for _ in range(20):
        router.decide(req)
    assert (len(builds), repacked) == (1, [1])
    # the re-packed table is the one a fresh pack of the moved arrays gives
    arms = router._tables[("t", "chat")]
    fresh = _native.pack_arms(
        arms.alpha.tobytes(), arms.beta.tobytes(), arms.has_slope.astype(np.float64).tobytes(),
        arms.slope_mean.tobytes(), arms.slope_precision.tobytes(), arms.slope_center.tobytes(),
    )  # fmt: skip
    assert arms.packed.table.to_bytes() == fresh  # type: ignore[attr-defined]


def _choice_frequencies(table: bytes, cost: np.ndarray, decisions: int) -> np.ndarray:
    from arbiter import _native

    counts = np.zeros(len(cost))
    for seed in range(decisions):
        counts[
            _native.decide_rows(table, b"", cost.tobytes(), None, 0.0, 0, 1.0, 1.0, seed)[0]
        ] += 1
    return counts / decisions


def _numpy_thompson(a: np.ndarray, b: np.ndarray, cost: np.ndarray, decisions: int) -> np.ndarray:
    """The rule with numpy's exact Beta sampler: the cheapest arm whose draw reaches the
    baseline's (arm 0's) draw (quality target 1.0)."""
    draws = np.random.default_rng(1).beta(a, b, size=(decisions, len(a)))
    ok = draws >= draws[:, :1]
    picked = np.where(ok, cost, np.inf).argmin(axis=1)
    return np.bincount(picked, minlength=len(a)) / decisions


def test_the_gaussian_beta_draw_keeps_thompsons_choice_distribution() -> None:
    """Past 30 on both shapes a Beta draw is the skew-corrected Gaussian of its logit: over
    20,000 decisions the choice frequencies match the exact Gamma draws' and numpy's exact Beta
    sampler's within sampling noise (total variation <= 0.01), while a sampler that is off by
    a factor 2 in evidence is clearly told apart."""
    from arbiter import _native

    rng = np.random.default_rng(4)
    n, decisions = 12, 20_000
    means = rng.uniform(0.8, 0.9, n)
    means[0] = 0.87  # the baseline: most arms sometimes draw above it
    strength = rng.uniform(30, 400, n) / np.minimum(means, 1 - means)  # both shapes >= 30
    a, b = means * strength, (1 - means) * strength
    cost = means**20  # the better, the pricier: the choice is a real trade-off
    zeros, ones = np.zeros(n).tobytes(), np.ones(n).tobytes()

    def table(gauss_above: float) -> bytes:
        return _native.pack_arms(a.tobytes(), b.tobytes(), zeros, zeros, ones, zeros, gauss_above)

    fast = _choice_frequencies(table(30.0), cost, decisions)
    exact = _choice_frequencies(table(math.inf), cost, decisions)
    by_numpy = _numpy_thompson(a, b, cost, decisions)
    tv = lambda p, q: 0.5 * float(np.abs(p - q).sum())  # noqa: E731
    # measured: 0.004 (same seeds), 0.009 and 0.006 (independent draws)
    assert tv(fast, exact) < 0.02, (fast, exact)
    assert tv(fast, by_numpy) < 0.025 and tv(exact, by_numpy) < 0.025
    assert np.count_nonzero(fast > 0.02) >= 3  # the test is not of one always-chosen arm
    wrong = _numpy_thompson(2 * a, 2 * b, cost, decisions)  # overconfident: twice the evidence
    assert tv(wrong, by_numpy) > 0.06  # measured: 0.14


def test_native_rounding_is_pythons_round_bit_for_bit() -> None:
    from arbiter import _native

    rng = np.random.default_rng(9)
    values = np.concatenate(
        [
            rng.random(20_000),  # scores and means live in (0, 1)
            np.arange(1, 4_000) / 2**15,  # exact binary ties at 4 digits (k / 32768)
            -rng.random(2_000) * 1e3,
            [0.0, -0.0, 5e-324, 1e-300, 2.675, 0.03125, 1e12 + 0.5, 2.0**60],
        ]
    )
    got = _native.round_floats(values.tobytes(), 4)
    want = [round(x, 4) for x in values.tolist()]
    assert [w if g is None else g for g, w in zip(got, want, strict=True)] == want
    assert got.count(None) == 1  # 1e12 + 0.5: too many digits for an exact quotient
    assert all(
        math.copysign(1, g) == math.copysign(1, w) for g, w in zip(got, want, strict=True) if g == 0
    )


def test_under_a_latency_slo_the_array_path_decides_and_explains_as_the_reference() -> None:
    """The reason names the bandit's pick and why, then the SLO's note says what changed (the
    array path used to explain the SLO's replacement as if the bandit had picked it)."""
    from arbiter.latency import LatencyModel

    levels = {"slow": (2.0, 20.0), "mid": (0.5, 80.0), "fast": (0.1, 400.0)}
    pool = [
        PoolModel(name, 0.1 * 10**i, 0.2 * 10**i, 100_000, frozenset(), {"chat": 0.9})
        for i, name in enumerate(levels)
    ]
    latency = LatencyModel()
    for name, (ttft, speed) in levels.items():
        for _ in range(30):
            latency.observe(name, "t", ttft_s=ttft, speed_tps=speed)
    params = RouterParams(baseline="fast", quality_target=0.9, explore=0.0, prior_strength=100)
    fast, ref = (Router(pool, params, latency=latency) for _ in range(2))
    swapped = 0
    for total in (3000.0, 50.0, 30_000.0):
        req = RouteRequest("t", "chat", 100, 100, max_latency_ms=total)
        got, want = fast.decide(req), ref.decide_reference(req)
        assert got == want, (got.reason, want.reason)
        swapped += "does not fit" in got.reason and not got.reason.startswith(f"chat: {got.chosen}")
    assert swapped, "the SLO replaced the bandit's pick at least once"


def test_under_a_latency_slo_past_record_all_the_failover_order_is_the_references() -> None:
    """Past RECORD_ALL under an SLO every model is drawn (cheapest first) and the pass returns
    the whole failover order; those that fit go first: the reference's pick, fallbacks and
    reason, with the pick and fallbacks among the recorded."""
    from arbiter.latency import LatencyModel

    rng = random.Random(12)
    pool = _random_pool(rng, 120)
    pool = [PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, 128_000,
                      frozenset(CAPS), m.priors) for m in pool]  # fmt: skip
    latency = LatencyModel()
    for i, m in enumerate(pool):
        for _ in range(20):
            latency.observe(m.name, "t", ttft_s=0.2 * (1 + i % 7), speed_tps=5.0 * 2 ** (i % 7))
    for cost_weight in (0.0, 2.0):
        params = RouterParams(baseline="m2", explore=1.0, cost_weight=cost_weight, max_fallbacks=3)
        fast, ref = (Router(pool, params, seed=4, latency=latency) for _ in range(2))
        for total in (3_000.0, 10_000.0, 30_000.0):  # none, 34 and 85 of 120 fit
            req = RouteRequest("t", "chat", 100, 400, easiness=0.2, max_latency_ms=total)
            got, want = fast.decide(req), ref.decide_reference(req)
            assert (got.chosen, got.fallbacks, got.reason, got.latency_ms) == (
                want.chosen, want.fallbacks, want.reason, want.latency_ms,
            ), total  # fmt: skip
            recorded = {c.model for c in got.candidates}
            assert {got.chosen, *got.fallbacks, "m2"} <= recorded and len(recorded) <= RECORD_TOP


def test_fitted_and_offset_length_models_price_as_the_reference() -> None:
    """Models with a fitted length prior (their own regression), with an offset learned from
    calls, and without either: the native pass prices each as `OutputLength.expected` does,
    also after calls moved the regressions (the table follows `observe`)."""
    from arbiter.output_length import LengthPrior

    rng = random.Random(3)
    pool = _random_pool(rng, 30)
    priors = {f"m{i}": LengthPrior.weak(50.0 * (i + 1), strength=2.0) for i in range(0, 30, 4)}
    lengths = OutputLength(350, priors)
    params = RouterParams(baseline="m1", explore=1.0)
    fast, ref = (Router(pool, params, Policy(), seed=5, lengths=lengths) for _ in range(2))
    for step in range(40):
        text = TEXTS[step % len(TEXTS)]
        req = RouteRequest("t", "chat", 100, rng.choice((None, 300)), stats=prompt_stats(text))
        got, want = fast.decide(req), ref.decide_reference(req)
        assert got == want, f"step {step}"
        lengths.observe(f"m{rng.randrange(30)}", req.stats or b"", rng.randrange(1, 2_000))


def test_routers_over_the_same_pool_share_one_length_table() -> None:
    """A service has a router per (quality target, baseline), each with its own pool index:
    one native length table serves them all (more than the cache holds would rebuild one,
    1,000 rows, per decision)."""
    pool = _random_pool(random.Random(4), 20)
    lengths = OutputLength(350)
    routers = [
        Router(pool, RouterParams(baseline="m0", quality_target=0.5 + 0.005 * i), lengths=lengths)
        for i in range(80)
    ]
    req = RouteRequest("t", "chat", 10, 10, stats=prompt_stats(TEXTS[0]))
    for router in routers:
        router.decide(req)
    tables = {id(lengths.table(r._pool_index().names)) for r in routers}
    assert len(tables) == 1
    lengths.observe("m3", req.stats or b"", 900)  # moves the shared table's row once
    ref = Router(pool, RouterParams(baseline="m0", quality_target=0.5), lengths=lengths)
    ref._counter = routers[0]._counter
    assert routers[0].decide(req) == ref.decide_reference(req)


def test_the_slot_built_candidate_is_the_dataclass() -> None:
    from arbiter.records import Candidate
    from arbiter.routing import _candidate

    got = _candidate("m1", 0.25, 0.5, 0.001)
    assert got == Candidate("m1", 0.25, 0.5, 0.001) and type(got) is Candidate
    assert hash(got) == hash(Candidate("m1", 0.25, 0.5, 0.001))


@pytest.mark.parametrize("cost_weight", [0.0, 0.5])
def test_cost_order_prototype_decides_as_decide_rows_without_draws_and_visits_few(
    cost_weight: float,
) -> None:
    """`_native.decide_rows_by_cost` (cheapest first, early stop; Router.decide's pass) on
    random tables: greedy (no draws, so the order cannot matter) it picks what decide_rows
    picks; the baseline is drawn first, and with a baseline it stops before the end."""
    from arbiter import _native

    g = np.random.default_rng(5)
    stopped = 0
    for case in range(200):
        n = int(g.integers(2, 60))
        a, b = g.uniform(0.5, 30, n), g.uniform(0.5, 30, n)
        z = np.zeros(n).tobytes()
        table = _native.pack_arms(a.tobytes(), b.tobytes(), z, z, np.ones(n).tobytes(), z)
        cost = np.round(g.uniform(0, 1, n), 1).tobytes()  # ties in cost
        base = int(g.integers(-1, n))
        args = (table, b"", cost, None, 0.0, base, 0.9, 0.0, case, cost_weight)
        want = _native.decide_rows(*args)
        got = _native.decide_rows_by_cost(*args)
        assert got[:3] == want[:3], case
        if base >= 0:
            assert got[3][0] == base
            stopped += len(got[3]) < n
        assert sorted(set(got[3])) == sorted(got[3])
    assert stopped > 50
