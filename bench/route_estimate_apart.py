"""Routing's cost of a request some model bills apart (a fast mode, audio: PoolModel.estimate_usd,
routing_types.billed_units) against a plain request's, on one pool in the same run (price26).

A pool of N models (default 1,000) with audio prices on a third of them and fast multiples;
`Router.decide` timed for a plain request, a `fast` one and a spoken one with audio clips,
interleaved round by round (the host is shared: ranges, not one figure). Prints each kind's
median microseconds per decision per round and its ratio to the plain request's of that round.

Usage: python bench/route_estimate_apart.py [--models 1000] [--rounds 7] [--decisions 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from arbiter.output_length import OutputLength
from arbiter.policy import Policy
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--decisions", type=int, default=300)
    a = ap.parse_args()
    rng = random.Random(1)
    pool = [
        PoolModel(
            f"m{i}", rng.uniform(0.1, 10), rng.uniform(0.2, 30), 128_000,
            frozenset({"chat", "audio"}), {"chat": rng.uniform(0.6, 0.95)},
            price_audio_in_per_mtok=40.0 if i % 3 == 0 else None,
            price_audio_out_per_mtok=80.0 if i % 3 == 0 else None,
            fast_factor=rng.choice((2.0, 6.0)),
        )
        for i in range(a.models)
    ]  # fmt: skip
    params = RouterParams(baseline="m0")
    router = Router(pool, params, Policy(), seed=1, lengths=OutputLength(350))
    kinds = {
        "plain": RouteRequest("t", "chat", 500, 200),
        "fast": RouteRequest("t", "chat", 500, 200, fast=True),
        "spoken": RouteRequest("t", "chat", 500, 200, audio_tokens=100, spoken=True),
    }
    per: dict[str, list[float]] = {k: [] for k in kinds}
    ratios: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(a.rounds):
        this: dict[str, float] = {}
        for kind, req in kinds.items():
            t = time.perf_counter()
            for _ in range(a.decisions):
                router.decide(req)
            this[kind] = (time.perf_counter() - t) / a.decisions * 1e6
            per[kind].append(this[kind])
        for kind in kinds:
            ratios[kind].append(this[kind] / this["plain"])
    print(f"{a.models} models, {a.rounds} rounds of {a.decisions} decisions per kind")
    print("| kind | us per decision, median [min-max] | ratio to plain, median [min-max] |")
    print("|---|---|---|")
    for kind in kinds:
        us, r = per[kind], ratios[kind]
        print(
            f"| {kind} | {statistics.median(us):.0f} [{min(us):.0f}-{max(us):.0f}] | "
            f"{statistics.median(r):.2f} [{min(r):.2f}-{max(r):.2f}] |"
        )


if __name__ == "__main__":
    main()
