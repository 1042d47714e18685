"""What the semantic cache's number rule (arbiter.cache.pair_guard: prompts whose numbers differ
are never a semantic hit) changes on Quora question pairs, held-out rows only.

One matcher is filled with every holdout text_a and asked every text_b twice, the rule on and
off (nothing is tuned: the rule has no parameter, the thresholds are the shipped curve's). At each
bound: what is served, how much of it is false, with and without the rule. The control, measured
in the same run: the rule's effect against removing as many served asks at random (seeded), so a
drop in false hits per served is the rule's and not just "serving less".

    python bench/semantic_number_guard.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz [--limit N]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arbiter.cache.semantic import default_matcher
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import Asked, ask, fill, load_pairs, score_threshold

BOUNDS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5)


def _random_removal(off: list[Asked], drop: int, threshold: float, seed: int) -> dict[str, float]:
    served = [a for a in off if a.p_false <= threshold]
    kept = served[:]
    random.Random(seed).shuffle(kept)
    kept = kept[: max(0, len(served) - drop)]
    false = sum(not a.right for a in kept)
    rate = round(1000 * false / len(kept), 1) if kept else 0.0
    return {"served": len(kept), "false": false, "false_per_1000_served": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    pairs = load_pairs(args.pairs, parts=["holdout"], limit=args.limit)
    started = time.perf_counter()
    embedder = Embedder.load()
    embedder.table()
    matcher = default_matcher(embedder, 0.5)
    matcher.rules = ("numbers",)  # this bench measures the number rule alone
    stored = fill(matcher, (p.text_a for p in pairs))
    matcher.guard = False
    off, exact = ask(matcher, pairs, stored)
    matcher.guard = True
    on, _ = ask(matcher, pairs, stored)
    rows = []
    print(f"holdout pairs {len(pairs)}, entries {len(stored)}, exact hits {exact}, "
          f"decider {matcher.decider}")  # fmt: skip
    print(f"{'bound':>6} {'rule':>5} {'served':>7} {'true':>5} {'false':>6} {'false/1k served':>16}"
          f" {'recall':>7}   control: same count removed at random -> false/1k served")  # fmt: skip
    for bound in BOUNDS:
        threshold = matcher.calibration.threshold(bound)
        s_off, s_on = score_threshold(off, threshold), score_threshold(on, threshold)
        control = _random_removal(off, s_off.served - s_on.served, threshold, seed=16)
        for name, s in (("off", s_off), ("on", s_on)):
            tail = f"   {control['false_per_1000_served']:.1f}" if name == "on" else ""
            print(f"{bound:>6} {name:>5} {s.served:>7} {s.true:>5} {s.false:>6} "
                  f"{s.false_per_1000_served:>16.1f} {s.recall:>7.4f}{tail}")  # fmt: skip
        rows.append({"bound": bound, "threshold": threshold, "rule_off": s_off.as_dict(),
                     "rule_on": s_on.as_dict(), "random_removal_control": control})  # fmt: skip
    print(orjson.dumps({"pairs": len(pairs), "part": "holdout", "exact": exact, "rows": rows,
                        "ran_s": round(time.perf_counter() - started, 1)}).decode())  # fmt: skip


if __name__ == "__main__":
    main()
