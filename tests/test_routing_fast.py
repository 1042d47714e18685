"""The array path of Router.decide against the per-model reference (decide_reference): the same
pool, policy, requests and seed must give the same decision, including the random draws."""

from __future__ import annotations

import random

import pytest

from arbiter.difficulty import prompt_stats
from arbiter.errors import ArbiterError
from arbiter.output_length import OutputLength
from arbiter.policy import Policy
from arbiter.routing import RECORD_ALL, PoolModel, Router, RouteRequest, RouterParams
from arbiter.routing_fast import gauss_draws, top_indices

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


def test_summarised_decisions_keep_the_best_the_chosen_and_the_baseline() -> None:
    rng = random.Random(7)
    pool = _random_pool(rng, 1_000)
    pool = [PoolModel(m.name, m.price_in_per_mtok, m.price_out_per_mtok, 128_000,
                      frozenset(CAPS), m.priors) for m in pool]  # fmt: skip
    router = Router(pool, RouterParams(baseline="m3", explore=1.0))
    d = router.decide(RouteRequest("t", "chat", 100, 100, easiness=0.3))
    names = [c.model for c in d.candidates]
    assert d.chosen in names and "m3" in names
    assert len(names) <= 18
    assert "1000 model" not in d.reason and "ineligible" not in d.reason


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


def test_top_indices_is_a_stable_descending_sort_prefix() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 5, size=int(rng.integers(1, 40))).astype(float)
        k = int(rng.integers(1, 45))
        want = np.argsort(-scores, kind="stable")[:k]
        assert top_indices(scores, k).tolist() == want.tolist()


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


def test_the_packed_arm_table_is_built_per_policy_change_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from arbiter import _native

    builds: list[int] = []
    pack = _native.pack_arms

    def counting(*args: bytes) -> bytes:
        builds.append(1)
        return pack(*args)

    monkeypatch.setattr(_native, "pack_arms", counting)
    pool = _random_pool(random.Random(2), 50)
    router = Router(pool, RouterParams(baseline="m0"))
    req = RouteRequest("t", "chat", 10, 10, easiness=0.2)
    for _ in range(20):
        router.decide(req)
    assert len(builds) == 1
    router.learn("t", "chat", "m1", 1.0, easiness=0.2)  # the policy moved: one rebuild
    for _ in range(20):
        router.decide(req)
    assert len(builds) == 2
