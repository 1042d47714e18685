"""cache26: pair_guard's `tense` rule refined (a future differs from a past, not from a present;
"during" says what "while" says), against route25's rule and no tense rule, on QQP pairs.

Three arms in one run, each asking the same stored entries: `none` (every other rule), `route25`
(its rule: a future marker on one side only, or different timing words) and `refined` (the
rule shipped now). Per bound: serves, true and false hits, and what each rule removes from
`none`'s serves (hits lost, false hits removed); beside them two controls from the same run: as
many of `none`'s serves removed at random (the false hits chance removes) and the refined arm's
serves scored against shuffled labels.

Splits: `dev` = QQP's train+calib parts (the rule was refined on their pairs' texts and labels;
bench results/cache26.md says which); `validation` = holdout rows 15000.. (never read by a tense
rule before; read once, after the rule was fixed).

    python bench/semantic_tense_refine.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \\
        --dev 3000 --skip 15000 --validation 3000

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.semantic_guard_rules import _random_removal

import arbiter.cache.pair_guard as pair_guard
from arbiter.cache.pair_guard import RULES
from arbiter.cache.semantic import WINDOW, SemanticMatcher, default_matcher
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import Asked, Pair, ask, fill, load_pairs, score_threshold

BOUNDS = (0.3, 0.4, 0.5)  # the default 0.02 serves nothing on QQP either way
_ROUTE25_FUTURE = frozenset(["will", "shall", "wont", "shant"])
_ROUTE25_WHEN = frozenset(["while", "during", "after", "before", "until"])


def route25_tense(a: list[str], s: list[str]) -> bool:
    """route25's rule as it shipped (the arm to compare with)."""
    if any(w in _ROUTE25_FUTURE for w in a) != any(w in _ROUTE25_FUTURE for w in s):
        return True
    when_a, when_s = _ROUTE25_WHEN.intersection(a), _ROUTE25_WHEN.intersection(s)
    return bool(when_a) and bool(when_s) and when_a != when_s


def asked_under(
    m: SemanticMatcher,
    pairs: Sequence[Pair],
    stored: dict[str, str],
    rules: tuple[str, ...],
    tense: Callable[[list[str], list[str]], bool],
) -> list[Asked]:
    shipped = pair_guard.tense_differs
    pair_guard.tense_differs = tense  # differ() reads the module's name at each call
    try:
        m.rules = rules
        return ask(m, pairs, stored)[0]
    finally:
        pair_guard.tense_differs = shipped


def measure(m: SemanticMatcher, pairs: Sequence[Pair], seed: int) -> dict[str, object]:
    m.embed = functools.lru_cache(maxsize=None)(m.embed)  # type: ignore[method-assign]
    stored = fill(m, (p.text_a for p in pairs))
    every = (*RULES, WINDOW)
    none = tuple(r for r in every if r != "tense")
    arms = {
        "none": asked_under(m, pairs, stored, none, pair_guard.tense_differs),
        "route25": asked_under(m, pairs, stored, every, route25_tense),
        "refined": asked_under(m, pairs, stored, every, pair_guard.tense_differs),
    }
    labels = [a.duplicate for a in arms["refined"]]
    random.Random(seed).shuffle(labels)
    rows = []
    for bound in BOUNDS:
        th = m.calibration.threshold(bound)
        scores = {name: score_threshold(asked, th) for name, asked in arms.items()}
        base = scores["none"]
        row: dict[str, object] = {"bound": bound}
        for name, s in scores.items():
            row[name] = {
                "served": s.served,
                "true": s.true,
                "false": s.false,
                "hits_lost": base.true - s.true,
                "false_removed": base.false - s.false,
            }
        for name in ("route25", "refined"):
            drop = base.served - scores[name].served
            ctl = _random_removal(arms["none"], drop, th, seed=seed)
            row[f"random_removal_{name}"] = {
                "removed": drop,
                "false_removed": base.false - int(ctl["false"]),
            }
        served = [i for i, a in enumerate(arms["refined"]) if a.p_false <= th]
        false = sum(not labels[i] for i in served)
        shuffled = round(1000 * false / len(served), 1) if served else 0
        row["shuffled_labels_false_per_1000"] = shuffled
        rows.append(row)
    return {"pairs": len(pairs), "entries": len(stored), "rows": rows}


def show(name: str, out: dict[str, object]) -> None:
    print(f"\n{name}: {out['pairs']} pairs, {out['entries']} entries")
    print(f"  {'bound':>5} {'arm':>8} {'served':>6} {'true':>5} {'false':>5} {'hits lost':>9} "
          f"{'false removed':>13}   control: as many removed at random")  # fmt: skip
    for row in out["rows"]:  # type: ignore[attr-defined]
        for arm in ("none", "route25", "refined"):
            r = row[arm]
            tail = ""
            if arm != "none":
                c = row[f"random_removal_{arm}"]
                tail = f"   removed {c['removed']}, false removed {c['false_removed']}"
            print(f"  {row['bound']:>5} {arm:>8} {r['served']:>6} {r['true']:>5} {r['false']:>5} "
                  f"{r['hits_lost']:>9} {r['false_removed']:>13}{tail}")  # fmt: skip
        shuffled = row["shuffled_labels_false_per_1000"]
        print(f"        control: shuffled labels (refined): {shuffled} false per 1,000 served")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--dev", type=int, default=3000, help="train+calib pairs (from the start)")
    ap.add_argument("--skip", type=int, default=15000, help="holdout rows before validation's")
    ap.add_argument("--validation", type=int, default=3000)
    ap.add_argument("--only", choices=("dev", "validation"))
    args = ap.parse_args()
    started = time.perf_counter()
    embedder = Embedder.load()
    embedder.table()
    out: dict[str, object] = {}
    if args.only != "validation":
        dev = load_pairs(args.pairs, parts=["train", "calib"], limit=args.dev)
        out["dev"] = measure(default_matcher(embedder, 0.5), dev, seed=26)
        show("dev (train+calib)", out["dev"])  # type: ignore[arg-type]
    if args.only != "dev":
        val = load_pairs(args.pairs, parts=["holdout"], limit=args.skip + args.validation)
        out["validation"] = measure(default_matcher(embedder, 0.5), val[args.skip :], seed=26)
        show(f"validation (holdout rows {args.skip}..)", out["validation"])  # type: ignore[arg-type]
    out["ran_s"] = round(time.perf_counter() - started, 1)
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
