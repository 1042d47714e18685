"""bench/latency_slo_misses.py: its decomposition of a miss reads the sim's truth right, and the
replay's trace hook sees every request without changing what the replay measures."""

from __future__ import annotations

import math

from arbiter.latency import z_score
from tests.bench_scripts import load

misses = load("latency_slo_misses")
live = misses.live


def test_a_31_token_math_answer_on_small_is_the_knife_edge_of_a_2500_ms_slo() -> None:
    """Seed 41's draws: the profile alone meets 2.5 s at 0.902, the scored chance (with the
    sim's 0.5% of +2 s stalls) is 0.896, and the log-normal sum's p90 is the MC one's."""
    items = live.build_items(600, 41, 1.0)
    it = next(
        i for i in items if i.task == "math" and i.slo_ms == 2500.0 and i.truth["small"][0] == 31
    )
    assert round(it.p_fit["small"], 3) == 0.896
    assert round(misses.chance_without_stalls(41, "small", 31, 2500.0), 3) == 0.902
    p90 = misses.true_total_ms("small", math.log(31), 0.0, z_score(0.9))
    assert abs(p90 / 2494.0 - 1) < 0.01, p90  # the MC's p90 of the same draws


def test_the_trace_sees_each_request_and_changes_nothing() -> None:
    replay = misses.replay_mod
    seen: list[int] = []
    plain = replay.replay(41, True, replay.LearnedLatency(None, True), "")
    traced = replay.replay(
        41, True, replay.LearnedLatency(None, True), "", lambda i, *_: seen.append(i)
    )
    assert traced == plain
    assert seen == list(range(600))


def test_the_excess_cost_names_the_swap_that_costs_seed_109_most() -> None:
    """Seed 109 (1.21x the oracle): its largest excess over the quantile oracle is 2.5 s chat
    sent to turbo because medium's predicted p90 was over the SLO (medium's learned latency
    cold, ~1.35x its truth early on), and each such row carries that model's factors."""
    out = misses.seed_report(109)
    kinds = out["excess_by_kind"]
    top = next(iter(kinds))
    assert top == "chat@2500:medium->turbo:latency", kinds
    assert kinds[top] > 0.05


def test_fresh_draws_give_each_repeat_of_a_prompt_its_own_latency_and_keep_the_rest() -> None:
    """`latency_slo_replay.fresh_draws`: the sim's own latency stream (at counter 0 it is the
    live bench's truth, i.e. the same draw function), anew per request; lengths, grades, cost
    and the scored chance unchanged. Seed 109's requests 25 and 26 are one chat prompt whose
    one draw (a stall: 3.28 s for 81 tokens on medium) the learned latency saw twice."""
    from arbiter.offline.sim.config import parse_config
    from arbiter.offline.sim.failures import messages_digest, request_rng
    from arbiter.offline.sim.latency_profile import draw

    items = live.build_items(40, 109, 1.0)
    cfg = parse_config(live.sim_settings(1.0))
    for it in items:
        digest = messages_digest(it.body["messages"])
        for name, (tokens, seconds, _, _) in it.truth.items():
            profile = cfg.models[name].latency
            assert profile is not None
            rng = request_rng(cfg.seed, name + "#latency", digest, 0)
            assert draw(profile, rng, 0, 1.0).total_s(tokens) == seconds
    a, b = items[25], items[26]
    assert a.body["messages"] == b.body["messages"]
    assert a.truth["medium"] == b.truth["medium"] and a.truth["medium"][1] > 3.0
    fresh = misses.replay_mod.fresh_draws(items)
    assert fresh[25].truth["medium"][1] != fresh[26].truth["medium"][1]
    for old, new in zip(items, fresh, strict=True):
        assert new.p_fit == old.p_fit and new.task == old.task
        for name in old.truth:
            assert new.truth[name][0] == old.truth[name][0]
            assert new.truth[name][2:] == old.truth[name][2:]
