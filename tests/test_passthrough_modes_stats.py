"""bench/passthrough_modes.between_within: a process's own cost stands out of its rounds' spread
and the shuffled control; the same rounds without it do not (the host's load, the same for every
process in a round, divides out)."""

from __future__ import annotations

import random
from typing import Any

from tests.bench_scripts import load


def _rows(dearer: float, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(12):
        host = rng.uniform(1.0, 4.0)  # the round's load, shared by all
        for p in range(4):
            own = dearer if p == 0 else 1.0
            cpu = host * own * rng.gauss(1.0, 0.05)
            rows.append({"variant": f"x@kept{p + 1}", "model": "m", "run": i, "cpu_ms": cpu})
    rows.append({"variant": "x", "model": "m", "run": 0, "cpu_ms": 9.9})  # a fresh one: not kept
    return rows


def test_a_dearer_process_stands_out() -> None:
    (b,) = load("passthrough_modes").between_within(_rows(1.12), shuffles=200)
    assert b["processes"] == 4 and b["rounds"] == 12
    assert b["means"][0] > max(b["means"][1:]) * 1.05
    assert b["ratio"] > 2.5 and b["ratio"] > 2.5 * b["shuffled_median"]
    assert b["above"] < 0.02


def test_alike_processes_sit_among_the_shuffled() -> None:
    for seed in (1, 2, 3):
        (b,) = load("passthrough_modes").between_within(_rows(1.0, seed), shuffles=200)
        assert b["above"] > 0.05
        assert b["ratio"] < 2.0 and b["ratio"] < 2.0 * b["shuffled_median"]
