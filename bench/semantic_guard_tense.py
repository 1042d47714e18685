"""route25's semantic-cache rule `tense` (arbiter.cache.pair_guard), measured as probe24a measured
its rules (bench/semantic_guard_opposites.py: the same arms, trap sets, QQP holdout rows,
random-removal and shuffled-label controls):

- tense: one prompt asks about the future ("will", "shall", "won't") and the other does not
  ("Who won the 2018 World Cup?" / "Who will win ...?": served at 0.5), or both name when one
  thing happens against another and not the same way ("while" / "after" / "before" / "during" /
  "until": "Can I drink alcohol while taking antibiotics?" / "... after ...": served at 0.3).

cache26 refined the rule (a future differs from a past only; "during" reads as "while"):
`after` now measures that one (bench/semantic_tense_refine.py sets route25's beside it).

`before`: every other rule; `after`: those and `tense`. The validation pairs below were written
before the rule was (and not looked at to change it); the dev pairs are the two the brief names
and what they suggest.

    python bench/semantic_guard_tense.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        --skip 10000 --limit 5000   # rows probe24a did not read; read once here, for no choice

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

from bench.semantic_guard_opposites import (
    MORE_PARAPHRASES,
    Pairs,
    print_qqp,
    print_traps,
    shuffled_labels,
)
from bench.semantic_guard_rules import BOUNDS, PARAPHRASES, _both_ways, qqp, served_by_arm

from arbiter.cache.pair_guard import RULES
from arbiter.cache.semantic import WINDOW, SemanticMatcher, default_matcher
from arbiter.embedding import Embedder

RULE = "tense"
DEV: Pairs = [
    ("Who won the 2018 World Cup?", "Who will win the 2018 World Cup?"),
    (
        "Can I drink alcohol while taking antibiotics?",
        "Can I drink alcohol after taking antibiotics?",
    ),
    ("What happened to the stock market?", "What will happen to the stock market?"),
    ("Should I stretch before running?", "Should I stretch while running?"),
]
# written before the rule; not looked at to change it
VALIDATION: Pairs = [
    ("Who won the election in Brazil?", "Who will win the election in Brazil?"),
    ("When did the iPhone 15 come out?", "When will the iPhone 15 come out?"),
    ("How much did gold cost in 2020?", "How much will gold cost in 2030?"),
    ("Did it rain in Paris yesterday?", "Will it rain in Paris tomorrow?"),
    ("Can I eat while taking ibuprofen?", "Can I eat before taking ibuprofen?"),
    ("Is it safe to swim after eating?", "Is it safe to swim while eating?"),
    ("Should I drink water during a workout?", "Should I drink water after a workout?"),
    ("Can I drive after drinking one beer?", "Can I drive while drinking one beer?"),
    ("What happened to Bitcoin in 2022?", "What will happen to Bitcoin in 2022?"),
    ("Who was the president of France?", "Who will be the president of France?"),
    ("How did the Roman Empire fall?", "How will the Roman Empire fall?"),
    ("Do I need a visa to visit Japan?", "Will I need a visa to visit Japan?"),
]
# a serve is right: what the rule may cost
TENSE_PARAPHRASES: Pairs = [
    ("Who will win the 2026 World Cup?", "Which team will win the 2026 World Cup?"),
    ("Who won the 2018 World Cup?", "Which country won the 2018 World Cup?"),
    (
        "Can I drink alcohol while taking antibiotics?",
        "Is it ok to drink alcohol while taking antibiotics?",
    ),
    ("What will the weather be like tomorrow?", "What will tomorrow's weather be like?"),
    ("Should I stretch after running?", "Is it good to stretch after running?"),
    ("What happens to the body during sleep?", "What happens in the body during sleep?"),
]


def traps(m: SemanticMatcher, arms: dict[str, tuple[str, ...]]) -> dict[str, object]:
    texts = [t for ps in (DEV, VALIDATION) for p in ps for t in p]
    rng = random.Random(25)
    sets: dict[str, Pairs] = {
        "dev tense": _both_ways(DEV),
        "validation tense": _both_ways(VALIDATION),
        "paraphrase (serve is right)": _both_ways(
            [*PARAPHRASES, *MORE_PARAPHRASES, *TENSE_PARAPHRASES]
        ),
        "random pairs (serve is false)": [
            (a, b) for a, b in (rng.sample(texts, 2) for _ in range(300))
        ],
    }
    return served_by_arm(m, arms, sets)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--skip", type=int, default=10000)
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--traps-only", action="store_true", help="the trap sets alone, no QQP")
    args = ap.parse_args()
    every = (*RULES, WINDOW)
    arms = {"before": tuple(r for r in every if r != RULE), "after": every}
    started = time.perf_counter()
    embedder = Embedder.load()
    embedder.table()
    m = default_matcher(embedder, 0.5)
    print(f"decider {m.decider}; thresholds " + ", ".join(
        f"{b}: {m.calibration.threshold(b):.4f}" for b in BOUNDS))  # fmt: skip
    print(f"measuring {RULE}: before {arms['before']}, after {arms['after']}")
    t = traps(m, arms)
    print("\n1. trap pairs (asked both ways; each a prompt alone in its context): served")
    print_traps(t, arms)
    out: dict[str, object] = {"traps": t}
    if not args.traps_only:
        q = qqp(m, args.pairs, args.limit, args.skip, arms=arms, seed=25)
        shuffled = shuffled_labels(m, args.pairs, args.skip, args.limit, arms["after"])
        print_qqp(q, shuffled, arms, args.skip)
        out |= {"qqp": q, "shuffled_labels": shuffled}
    out["ran_s"] = round(time.perf_counter() - started, 1)
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
