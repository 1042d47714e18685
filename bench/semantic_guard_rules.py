"""What the semantic cache's hard rules (arbiter.cache.pair_guard) change, and the trap pairs they
are for: negation ("is X safe" / "is X not safe", a JSON true / false), the same words reordered
("5 miles to km" / "5 km to miles"), next to the number rule that was already shipped.

Two arms with the shipped stages and thresholds (nothing is tuned here; the rules have no
parameter): `numbers` (the rules before this session) and `all` (numbers, negation, order).

1. Trap pairs built here, each stored prompt alone in its own context (the only candidate: the
   worst case for a cache), asked its partner both ways: every serve is a false hit. Two sets:
   `dev` (the pairs the rules were written after) and `validation` (written before any run with
   the rules, never looked at to change them). Controls in the same run: paraphrase pairs (a serve
   is right: what the rules may cost), and random pairs of the same texts (what serving costs
   when nothing is alike).
2. QQP holdout rows (`--pairs`, validation split only: arbiter.offline.semantic_eval's `holdout`
   part), as bench/semantic_number_guard.py reads them: served, false per 1,000 served and recall
   per bound for both arms, next to removing as many serves at random (seeded): the control that
   tells a rule's effect from "serving less".

    python bench/semantic_guard_rules.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz [--limit N]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arbiter.cache.semantic import SemanticMatcher, default_matcher
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import Asked, ask, fill, load_pairs, score_threshold

BOUNDS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5)  # 0.02: the shipped default
# `all`: the rules this script measured (RULES has grown since: values, language, measured by
# bench/semantic_guard_values_language.py)
ARMS = {"numbers": ("numbers",), "all": ("numbers", "negation", "order")}
LONG = "Here is the background for my question. " + " ".join(
    f"Paragraph {i}: the quarterly report discusses revenue, costs, hiring plans, and the "
    "roadmap for the product line in detail."
    for i in range(20)
)
Pairs = list[tuple[str, str]]
DEV: dict[str, Pairs] = {
    "negation": [
        ("Is it safe to eat raw chicken?", "Is it not safe to eat raw chicken?"),
        ("Is ibuprofen safe during pregnancy?", "Is ibuprofen not safe during pregnancy?"),
        ("Should I use a mutex here?", "Should I not use a mutex here?"),
        ("Why is Python fast?", "Why is Python not fast?"),
        ("List fruits that contain vitamin C", "List fruits that do not contain vitamin C"),
        ("Can dogs eat grapes?", "Can't dogs eat grapes?"),
        ("Explain why the test passes", "Explain why the test never passes"),
        ("Which countries use the euro?", "Which countries don't use the euro?"),
        (
            "Is it legal to record a call in California?",
            "Is it illegal to record a call in California?",
        ),
        ("What foods should I eat with diabetes?", "What foods should I avoid with diabetes?"),
    ],
    "units": [
        ("Convert 5 miles to kilometers", "Convert 5 kilometers to miles"),
        ("How many grams in a pound?", "How many grams in an ounce?"),
        ("What is 100 Fahrenheit in Celsius?", "What is 100 Celsius in Fahrenheit?"),
        ("How long to boil an egg in minutes?", "How long to boil an egg in seconds?"),
        ("Convert 20 USD to EUR", "Convert 20 EUR to USD"),
        ("How many liters in a gallon?", "How many liters in a quart?"),
    ],
    "names": [
        ("What is the capital of Austria?", "What is the capital of Australia?"),
        ("Who founded Microsoft?", "Who founded Apple?"),
        ("Write a short biography of Marie Curie", "Write a short biography of Pierre Curie"),
        ("What is the population of Paris?", "What is the population of Lyon?"),
        ("Summarize the plot of Hamlet", "Summarize the plot of Macbeth"),
        (
            "What's the weather like in Seattle in winter?",
            "What's the weather like in Miami in winter?",
        ),
        ("Who wrote Pride and Prejudice?", "Who wrote Sense and Sensibility?"),
        ("How do I install numpy?", "How do I install pandas?"),
        ("What is the boiling point of water?", "What is the boiling point of ethanol?"),
        ("Translate 'good morning' into Spanish", "Translate 'good morning' into French"),
    ],
    "code": [
        (
            "What does this do: def f(xs): return sorted(xs)",
            "What does this do: def f(xs): return reversed(xs)",
        ),
        (
            "Fix the bug: for i in range(len(a)): total += a[i]",
            "Fix the bug: for i in range(len(a)): total -= a[i]",
        ),
        (
            "Explain: SELECT name FROM users WHERE age > 30",
            "Explain: SELECT email FROM users WHERE age > 30",
        ),
        ("In Python, what does list.append do?", "In Python, what does list.extend do?"),
        (
            "What is the difference between git merge and git rebase?",
            "What is the difference between git merge and git cherry-pick?",
        ),
        (
            "Write a bash command to delete all .log files",
            "Write a bash command to delete all .tmp files",
        ),
        ("Is `x is None` better than `x == None`?", "Is `x is True` better than `x == True`?"),
    ],
    "language": [
        ("What is the capital of France?", "Quelle est la capitale de la France ?"),
        ("How are you today?", "Wie geht es dir heute?"),
        ("Translate to German: the cat sleeps", "Translate to Italian: the cat sleeps"),
        (
            "Answer in English: what is photosynthesis?",
            "Answer in Spanish: what is photosynthesis?",
        ),
    ],
    "short": [
        ("hi", "no"),
        ("yes", "no"),
        ("ok", "no"),
        ("hello", "bye"),
        ("true", "false"),
        ("stop", "go"),
        ("why?", "how?"),
        ("more", "less"),
    ],
    "json_value": [
        (
            'Extract the fields from {"name": "Alice", "role": "admin"}',
            'Extract the fields from {"name": "Bob", "role": "admin"}',
        ),
        ('Validate this JSON: {"enabled": true}', 'Validate this JSON: {"enabled": false}'),
        (
            'Summarize {"status": "shipped", "item": "lamp"}',
            'Summarize {"status": "lost", "item": "lamp"}',
        ),
        ('Is this config valid? {"mode": "strict"}', 'Is this config valid? {"mode": "lenient"}'),
    ],
    "long_differs_at_end": [
        (
            LONG + " Question: what was the main risk?",
            LONG + " Question: what was the main opportunity?",
        ),
        (LONG + " Summarize it in English.", LONG + " Summarize it in Japanese."),
        (LONG + " Is the plan good?", LONG + " Is the plan bad?"),
        (LONG + " List the costs.", LONG + " List the hires."),
    ],
}
VALIDATION: dict[str, Pairs] = {
    "negation": [
        ("Does caffeine affect sleep?", "Does caffeine not affect sleep?"),
        ("Is Rust memory safe?", "Is Rust not memory safe?"),
        ("Why do cats purr?", "Why don't cats purr?"),
        ("Should I refrigerate tomatoes?", "Should I never refrigerate tomatoes?"),
        ("Which planets have rings?", "Which planets have no rings?"),
        (
            "Is it a good idea to lend money to friends?",
            "Is it not a good idea to lend money to friends?",
        ),
        ("Is it OK to run every day?", "Is it not OK to run every day?"),
        ('Explain this setting: {"debug": true}', 'Explain this setting: {"debug": false}'),
        ("What happens when verbose is true?", "What happens when verbose is false?"),
    ],
    "order": [
        ("Convert 10 pounds to kilograms", "Convert 10 kilograms to pounds"),
        (
            "Translate from English to German: good night",
            "Translate from German to English: good night",
        ),
        ("Who did Federer beat at Wimbledon?", "Who beat Federer at Wimbledon?"),
        ("Is Python faster than Java?", "Is Java faster than Python?"),
        (
            "How do I convert a string to an int in Python?",
            "How do I convert an int to a string in Python?",
        ),
        ("What is 30 Celsius in Fahrenheit?", "What is 30 Fahrenheit in Celsius?"),
    ],
}
PARAPHRASES: Pairs = [
    ("Write a haiku about the sea", "Write a haiku about the ocean"),
    ("How do I reverse a list in Python?", "How can I reverse a list in Python?"),
    ("What is the capital of France?", "What's the capital of France?"),
    ("Explain photosynthesis simply", "Explain photosynthesis in simple terms"),
    ("How do I learn to cook?", "How can I learn cooking?"),
    ("What are the benefits of meditation?", "What are the benefits of meditating?"),
    ("How can I improve my sleep?", "How do I improve my sleep?"),
    ("What is the best way to learn guitar?", "What's the best way to learn guitar?"),
    ("Tips for a job interview", "Give me tips for a job interview"),
]


def _p_false(m: SemanticMatcher, stored: str, asked: str, context: str) -> float:
    """The best candidate's P(false) when `stored` is the only entry of its context (2.0: none)."""
    va, vb = m.embed(stored), m.embed(asked)
    if va is None or vb is None:
        return 2.0
    m.add("bench", context, "e-" + context, va, text=stored)
    best = m.best("bench", context, asked, vb)
    m.remove("e-" + context)
    return 2.0 if best is None else best.p_false


def _both_ways(pairs: Pairs) -> Pairs:
    return [*pairs, *((b, a) for a, b in pairs)]


def traps(m: SemanticMatcher) -> dict[str, object]:
    texts = [t for s in (DEV, VALIDATION) for ps in s.values() for p in ps for t in p]
    rng = random.Random(18)
    controls = {
        "paraphrase (serve is right)": _both_ways(PARAPHRASES),
        "random pairs (serve is false)": [tuple(rng.sample(texts, 2)) for _ in range(300)],
    }
    sets = {f"dev {k}": _both_ways(v) for k, v in DEV.items()}
    sets |= {f"validation {k}": _both_ways(v) for k, v in VALIDATION.items()}
    sets |= controls  # type: ignore[arg-type]
    return served_by_arm(m, ARMS, sets)  # type: ignore[arg-type]


def _random_removal(off: list[Asked], drop: int, threshold: float, seed: int) -> dict[str, float]:
    served = [a for a in off if a.p_false <= threshold]
    kept = served[:]
    random.Random(seed).shuffle(kept)
    kept = kept[: max(0, len(served) - drop)]
    false = sum(not a.right for a in kept)
    rate = round(1000 * false / len(kept), 1) if kept else 0.0
    return {"served": len(kept), "false": false, "false_per_1000_served": rate}


def qqp(
    m: SemanticMatcher,
    path: Path,
    limit: int | None,
    skip: int,
    arms: dict[str, tuple[str, ...]] = ARMS,
    seed: int = 18,
) -> dict[str, object]:
    """QQP holdout pairs asked under the first of `arms` (before) and the second (after): what
    each serves at every bound, and the same number of serves removed at random (the control)."""
    (before_arm, before_rules), (after_arm, after_rules) = arms.items()
    pairs = load_pairs(path, parts=["holdout"], limit=None if limit is None else skip + limit)
    pairs = pairs[skip:]
    stored = fill(m, (p.text_a for p in pairs))
    m.rules = before_rules
    asked_before, _ = ask(m, pairs, stored)
    m.rules = after_rules
    asked_after, _ = ask(m, pairs, stored)
    rows = []
    for bound in BOUNDS:
        th = m.calibration.threshold(bound)
        before, after = score_threshold(asked_before, th), score_threshold(asked_after, th)
        control = _random_removal(asked_before, before.served - after.served, th, seed=seed)
        rows.append({"bound": bound, "threshold": th, before_arm: before.as_dict(),
                     after_arm: after.as_dict(), "random_removal_control": control})  # fmt: skip
    return {"pairs": len(pairs), "skip": skip, "entries": len(stored), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--limit", type=int)
    # the holdout rows read before the negation rule counted negations instead of comparing
    # their words were the first 5,000: `--skip 5000` reads rows that no choice here has seen
    ap.add_argument("--skip", type=int, default=0)
    args = ap.parse_args()
    started = time.perf_counter()
    embedder = Embedder.load()
    embedder.table()
    m = default_matcher(embedder, 0.5)
    print(f"decider {m.decider}; thresholds " + ", ".join(
        f"{b}: {m.calibration.threshold(b):.4f}" for b in BOUNDS))  # fmt: skip
    t = traps(m)
    print("\n1. trap pairs (asked both ways; each a prompt alone in its context): served")
    for arm in ARMS:
        rows = t[arm]["served"]  # type: ignore[index]
        names = list(t[arm]["asked"])  # type: ignore[index]
        print(f"  rules = {arm}")
        print(f"    {'set':<32} {'asked':>5} " + " ".join(f"{b:>5}" for b in BOUNDS))
        for name in names:
            counts = " ".join(f"{rows[str(b)][name]:>5}" for b in BOUNDS)
            print(f"    {name:<32} {t[arm]['asked'][name]:>5} {counts}")  # type: ignore[index]
    q = qqp(m, args.pairs, args.limit, args.skip)
    print(f"\n2. QQP holdout rows {args.skip}..: {q['pairs']} pairs, {q['entries']} entries")
    print(f"  {'bound':>5} {'rules':>7} {'served':>6} {'false':>5} {'false/1k served':>15} "
          f"{'recall':>7}   control: as many removed at random -> false/1k served")  # fmt: skip
    for row in q["rows"]:  # type: ignore[attr-defined]
        for arm in ARMS:
            s = row[arm]
            tail = (
                f"   {row['random_removal_control']['false_per_1000_served']:.1f}"
                if arm == "all"
                else ""
            )
            print(f"  {row['bound']:>5} {arm:>7} {s['served']:>6} {s['false']:>5} "
                  f"{s['false_per_1000_served']:>15.1f} {s['recall']:>7.4f}{tail}")  # fmt: skip
    print(
        orjson.dumps(
            {"traps": t, "qqp": q, "ran_s": round(time.perf_counter() - started, 1)}
        ).decode()
    )


def served_by_arm(
    m: SemanticMatcher,
    arms: Mapping[str, Sequence[Any]],
    sets: Mapping[str, Sequence[tuple[str, str]]],
    bounds: Sequence[float] = BOUNDS,
) -> dict[str, object]:
    """Per arm (the matcher's guard rules): how many pairs of each set are asked, and how many
    the matcher serves at each false-hit bound (the other guard benches share this count)."""
    out: dict[str, object] = {}
    for arm, rules in arms.items():
        m.rules = rules  # type: ignore[assignment]
        ps = {
            name: [_p_false(m, a, b, f"{name}{i}") for i, (a, b) in enumerate(pairs)]
            for name, pairs in sets.items()
        }
        rows = {}
        for bound in bounds:
            th = m.calibration.threshold(bound)
            rows[str(bound)] = {name: sum(p <= th for p in v) for name, v in ps.items()}
        out[arm] = {"asked": {name: len(v) for name, v in sets.items()}, "served": rows}
    return out


if __name__ == "__main__":
    main()
