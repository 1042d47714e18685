"""bench/decisions_ab: one routing decision at 10, 100 and 1,000 eligible models, before and
after a change, in ONE process, interleaved, in CPU time (`time.process_time`), so a busy
machine slows both alike.

"Before" is another checkout's `python/arbiter` (with its `_native` .so) copied as the package
`arbiter_before` into DIR:
    git archive OLD python/arbiter | tar -x -C /tmp/x && mv /tmp/x/python/arbiter DIR/arbiter_before
    cp OLD_SO DIR/arbiter_before/_native.abi3.so
    grep -rlE "(from|import) arbiter" DIR/arbiter_before | xargs sed -i -E \\
        's/(from|import) arbiter(\\.| |$)/\\1 arbiter_before\\2/g'
Usage: python bench/decisions_ab.py DIR [--rounds 15]. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROMPT = "Explain the difference between TCP and UDP in two sentences, with one example each."


def _router(pkg: str, n: int) -> tuple[Any, Any]:
    """bench/scale.py's decision router (every arm graded, every model its own length offset,
    a request with prompt statistics and a difficulty score), from package `pkg`."""
    routing = importlib.import_module(f"{pkg}.routing")
    out_len = importlib.import_module(f"{pkg}.output_length")
    policy = importlib.import_module(f"{pkg}.policy")
    stats = importlib.import_module(f"{pkg}.difficulty").prompt_stats(PROMPT)
    rng = random.Random(n)
    pool = [
        routing.PoolModel(f"m{i}", rng.uniform(0.1, 10.0), rng.uniform(0.2, 30.0), 128_000,
                          frozenset({"tools", "json"}), {"chat": rng.uniform(0.5, 0.9)})
        for i in range(n)
    ]  # fmt: skip
    lengths = out_len.OutputLength(350)
    router = routing.Router(pool, routing.RouterParams(baseline="m0"), policy.Policy(),
                            lengths=lengths, is_available=lambda _m: True,
                            suspects=lambda: ())  # fmt: skip
    for i in range(n):
        for k in range(3):
            router.learn("t", "chat", f"m{i}", float(k % 2), easiness=0.3 * k - 0.3)
        lengths.observe(f"m{i}", stats, 100 + i)
    req = routing.RouteRequest("t", "chat", 200, 500, frozenset({"tools"}), 0.3, stats)
    return router, req


def _cpu_us(fn: Any, n: int) -> float:
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("before_dir")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    sys.path[:0] = [args.before_dir, str(REPO / "python")]
    out: dict[str, Any] = {}
    for n in (10, 100, 1000):
        pairs = {pkg: _router(pkg, n) for pkg in ("arbiter_before", "arbiter")}
        for router, req in pairs.values():
            for _ in range(50):
                router.decide(req)
        per = 200 if n == 1000 else 1000
        runs: dict[str, list[float]] = {pkg: [] for pkg in pairs}
        for _ in range(args.rounds):  # interleaved
            for pkg, (router, req) in pairs.items():
                runs[pkg].append(_cpu_us(lambda r=router, q=req: r.decide(q), per))
        out[str(n)] = {
            pkg: {"median_us": round(statistics.median(xs), 1), "min_us": round(min(xs), 1)}
            for pkg, xs in runs.items()
        }
        print(n, out[str(n)], flush=True)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
