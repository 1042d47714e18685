"""Micro-benchmarks of the arbiter._native kernels as Python sees them (call overhead included),
next to plain-Python equivalents that justify keeping them in Rust. Prints a table, then one JSON
line. Bounded: every case runs a fixed number of calls. Usage: python bench/kernels.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable

from arbiter._native import choose, prompt_features

SAMPLE = (
    "Write a Python function `parse(s)` that returns the sum of all integers in s, e.g. "
    'parse("a1b22") == 23. Explain the complexity. What if s has 10^6 chars?\n'
)


def _per_call_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over `repeats` of the mean time per call, in microseconds."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - t0) / calls / 1e3)
    return statistics.median(samples)


def _py_choose(
    alpha: list[float], beta: list[float], cost: list[float], shift: list[float], rnd: random.Random
) -> int:
    """Plain-Python Thompson choice with the same formulas (baseline = last candidate)."""

    def sig(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))

    scores = []
    for a, b, s in zip(alpha, beta, shift, strict=True):
        theta = min(max(rnd.betavariate(a, b), 1e-12), 1 - 1e-12)
        scores.append(sig(math.log(theta / (1 - theta)) + s))
    target = 0.95 * scores[-1]
    ok = [i for i, sc in enumerate(scores) if sc >= target]
    return min(ok, key=lambda i: (cost[i], -scores[i], i))


_TOKEN = re.compile(r"[^\W_]+|[^\w\s]|_", re.UNICODE)


def _py_features(text: str, dim: int) -> list[float]:
    """Plain-Python signed hashing of uni/bigrams (no statistics) for comparison."""
    width = dim - 16
    out = [0.0] * dim
    prev = None
    for tok in (t.lower() for t in _TOKEN.findall(text)):
        for gram in (tok, f"{prev} {tok}") if prev is not None else (tok,):
            h = 0xCBF29CE484222325
            for byte in gram.encode():
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            out[h % width] += -1.0 if h >> 63 else 1.0
        prev = tok
    return out


def _arms(n: int) -> tuple[list[float], list[float], list[float], list[float]]:
    alpha = [2.0 + i for i in range(n)]
    beta = [1.0 + (n - i) * 0.5 for i in range(n)]
    cost = [1e-4 * (1 + i % 7) for i in range(n)]
    shift = [math.sin(i * 0.37) for i in range(n)]
    return alpha, beta, cost, shift


def _bench_choose(n: int, explore: float, calls: int, repeats: int) -> tuple[float, float | None]:
    alpha, beta, cost, shift = _arms(n)
    seeds = iter(range(10**9))
    us = _per_call_us(
        lambda: choose(alpha, beta, cost, shift, n - 1, 0.95, explore, next(seeds)), calls, repeats
    )
    if explore < 1.0:
        return us, None
    rnd = random.Random(0)
    py_us = _per_call_us(lambda: _py_choose(alpha, beta, cost, shift, rnd), calls // 5, repeats)
    return us, py_us


def _bench_features(chars: int, calls: int, repeats: int) -> tuple[float, float]:
    text = (SAMPLE * (chars // len(SAMPLE) + 1))[:chars]
    us = _per_call_us(lambda: prompt_features(text, 256), calls // 5, repeats)
    py_us = _per_call_us(lambda: _py_features(text, 256), max(calls // 250, 5), repeats)
    return us, py_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls (smoke run)")
    opts = parser.parse_args()
    calls, repeats = (200, 3) if opts.quick else (5_000, 7)
    rows: list[tuple[str, str, float, float | None]] = []
    for n in (4, 10, 50):
        for explore in (0.0, 1.0):
            us, py_us = _bench_choose(n, explore, calls, repeats)
            rows.append(("choose", f"n={n} explore={explore:g}", us, py_us))
    for chars in (100, 2_000, 8_000):
        us, py_us = _bench_features(chars, calls, repeats)
        rows.append(("prompt_features", f"{chars} chars dim=256", us, py_us))

    print(f"{'kernel':<16} {'case':<22} {'native us/call':>15} {'python us/call':>15}")
    for kernel, case, us, py in rows:
        py_cell = f"{py:15.2f}" if py is not None else f"{'-':>15}"
        print(f"{kernel:<16} {case:<22} {us:15.2f} {py_cell}")
    result = {
        "bench": "kernels",
        "calls": calls,
        "repeats": repeats,
        "results": [
            {"kernel": k, "case": c, "native_us": round(u, 3), "python_us": p and round(p, 3)}
            for k, c, u, p in rows
        ],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
