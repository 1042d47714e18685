"""CPU time of the semantic cache's hard rules (arbiter.cache.pair_guard.differ) per candidate
pair, the rules before `values` and `language` (numbers, negation, order) against all of them, in
the same run, interleaved (best of 3 rounds each): a 4,000-character pair (the longest the semantic
side embeds) in ASCII and with accented letters, and short pairs. `differ` runs off the event loop
on each candidate a semantic lookup reads.

    PYTHONPATH=python python bench/pair_guard_cost.py
    PYTHONPATH=python python bench/pair_guard_cost.py --before 5 --window  # probe24a's rules

`--before N`: the before arm is the first N rules (default 3); `--window`: the after arm also
runs SemanticMatcher.differ_unread (the window rule: tokenizes a long pair with the embedder).

Ends with one JSON line {case: {"before_ms": x, "after_ms": y, "ratio": y / x}}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.semantic_guard_rules import LONG

from arbiter.cache.pair_guard import RULES, differ
from arbiter.cache.semantic import default_matcher
from arbiter.embedding import Embedder

BEFORE = ("numbers", "negation", "order")
TEXT = (LONG * 2)[:4000]
CASES = {
    "long ascii": (TEXT + " what was the risk?", TEXT + " what was the gain?", 30),
    "long non-ascii": (
        "Voici le contexte. " + TEXT + " Quelle était la principale difficulté ?",
        "Voici le contexte. " + TEXT + " Quelle était la principale réussite ?",
        30,
    ),
    "short": ("How do I learn Python fast?", "What is the fastest way to learn Python?", 2000),
    "short quoted": ('Summarize {"status": "shipped"}', 'Summarize {"status": "shipped!"}', 2000),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--before", type=int, default=len(BEFORE))
    ap.add_argument("--window", action="store_true")
    args = ap.parse_args()
    before = RULES[: args.before]
    unread = default_matcher(Embedder.load(), 0.3).differ_unread if args.window else None
    out: dict[str, dict[str, float]] = {}
    for name, (a, b, n) in CASES.items():
        best = {"before": float("inf"), "after": float("inf")}
        for _ in range(3):
            for arm, rules in (("before", before), ("after", RULES)):
                started = time.process_time()
                for _ in range(n):
                    differ(a, b, rules)
                    if unread is not None and arm == "after":
                        unread(a, b)
                best[arm] = min(best[arm], (time.process_time() - started) / n * 1000)
        out[name] = {"before_ms": round(best["before"], 4), "after_ms": round(best["after"], 4),
                     "ratio": round(best["after"] / best["before"], 2)}  # fmt: skip
        print(f"{name:15} before {best['before']:.3f} ms  after {best['after']:.3f} ms  "
              f"ratio {out[name]['ratio']:.2f}")  # fmt: skip
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
