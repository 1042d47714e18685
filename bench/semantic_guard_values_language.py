"""What the semantic cache's `values` and `language` rules (arbiter.cache.pair_guard) change: two
prompts whose quoted or JSON values differ (`{"status": "shipped"}` / `{"status": "lost"}`), or
that ask in another language or for an answer in another one ("answer in French" / "in German",
"What is the capital of Spain?" / "¿Cuál es la capital de España?"), are different questions.
At the looser bounds an operator may set (0.4-0.5) the exact stage served such pairs.

Two arms with the shipped stages and thresholds (nothing is tuned here): `before` (numbers,
negation, order: the rules before this change) and `after` (all of pair_guard.RULES).

1. Trap pairs, each stored prompt alone in its own context (the only candidate: the worst case),
   asked both ways: every serve is a false hit. `dev`: the pairs the rules were written after
   (cache18's json_value and language sets, bench/semantic_guard_rules.py, and a few more);
   `validation`: written before any run with the new rules and never looked at to change them.
   Controls in the same run: paraphrase pairs (a serve is right: what the rules may cost), and
   random pairs of the same texts (what serving costs when nothing is alike).
2. QQP holdout rows 5000-9999 (`--skip 5000 --limit 5000`, validation split only), as
   bench/semantic_guard_rules.py reads them: served, false per 1,000 served and recall per bound
   for both arms, next to removing as many serves at random (seeded): the control that tells a
   rule's effect from "serving less".

    python bench/semantic_guard_values_language.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        --skip 5000 --limit 5000

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

from bench.semantic_guard_rules import _both_ways, qqp, served_by_arm

from arbiter.cache.pair_guard import RULES
from arbiter.cache.semantic import SemanticMatcher, default_matcher
from arbiter.embedding import Embedder

BOUNDS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5)  # 0.02: the shipped default
ARMS = {"before": ("numbers", "negation", "order"), "after": RULES[:5]}  # the five it measured
Pairs = list[tuple[str, str]]

DEV: dict[str, Pairs] = {
    "values": [  # cache18's json_value set, then more written with the rule
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
        ('What does "ephemeral" mean?', 'What does "ubiquitous" mean?'),
        ("Explain `git stash pop`", "Explain `git stash drop`"),
        ('Where is my order? {"status": "shipped"}', 'Where is my order? {"status": "lost"}'),
    ],
    "language": [  # cache18's language set, then more written with the rule
        ("What is the capital of France?", "Quelle est la capitale de la France ?"),
        ("How are you today?", "Wie geht es dir heute?"),
        ("Translate to German: the cat sleeps", "Translate to Italian: the cat sleeps"),
        (
            "Answer in English: what is photosynthesis?",
            "Answer in Spanish: what is photosynthesis?",
        ),
        ("Explain photosynthesis in French", "Explain photosynthesis in German"),
        ("Summarize the news in Spanish", "Summarize the news in Portuguese"),
        ("How do I sort a list in Python?", "How do I sort a list in Java?"),
        ("Why is the sky blue?", "¿Por qué el cielo es azul?"),
    ],
}
# written before any run with the new rules; never used to change them
VALIDATION: dict[str, Pairs] = {
    "values": [
        ('Parse this: {"color": "red", "size": 3}', 'Parse this: {"color": "blue", "size": 3}'),
        (
            'What does the error "connection refused" mean?',
            'What does the error "connection reset" mean?',
        ),
        ('Describe the order {"state": "pending"}', 'Describe the order {"state": "cancelled"}'),
        ('Is {"admin": null} a valid payload?', 'Is {"admin": "yes"} a valid payload?'),
        (
            'Rename the key "user_id" to "userId" in my JSON',
            'Rename the key "userId" to "user_id" in my JSON',
        ),
        (
            "Explain the git command `git reset --hard`",
            "Explain the git command `git reset --soft`",
        ),
        (
            'Summarize the ticket {"priority": "high", "team": "infra"}',
            'Summarize the ticket {"priority": "low", "team": "infra"}',
        ),
        (
            'What does the HTTP header "Cache-Control: no-store" do?',
            'What does the HTTP header "Cache-Control: no-cache" do?',
        ),
    ],
    "language": [
        ("Answer in French: why is the sky blue?", "Answer in German: why is the sky blue?"),
        ("What is the capital of Spain?", "¿Cuál es la capital de España?"),
        ("Write a poem about autumn in Italian", "Write a poem about autumn in Portuguese"),
        ("How do I say thank you in Japanese?", "How do I say thank you in Korean?"),
        ("Where is the nearest train station?", "Où est la gare la plus proche ?"),
        ("Explain recursion in Python", "Explain recursion in JavaScript"),
        ("Reply in Spanish: what time is it?", "Reply in English: what time is it?"),
        ("What is the weather like today?", "Какая сегодня погода?"),
        ("Wie spät ist es?", "What time is it?"),
        ("Write a hello world program in Rust", "Write a hello world program in Go"),
    ],
}
# a serve is right: what the rules may cost (the first nine: cache18's control)
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
    # with quotes or languages in them (validation: written with the sets above)
    ('What does "serendipity" mean?', 'What is the meaning of "serendipity"?'),
    ("How do I learn Spanish quickly?", "What is the fastest way to learn Spanish?"),
    ('Explain {"retry": 3} in this config', 'What does {"retry": 3} mean in this config?'),
    ("Quelle est la capitale de la France ?", "Quelle est la capitale de la France?"),
    ("Wie geht es dir?", "Wie geht's dir?"),
    ("How do I read a file in Python?", "How can I read a file in Python?"),
]


def traps(m: SemanticMatcher) -> dict[str, object]:
    texts = [t for s in (DEV, VALIDATION) for ps in s.values() for p in ps for t in p]
    rng = random.Random(19)
    sets: dict[str, Pairs] = {f"dev {k}": _both_ways(v) for k, v in DEV.items()}
    sets |= {f"validation {k}": _both_ways(v) for k, v in VALIDATION.items()}
    sets["paraphrase (serve is right)"] = _both_ways(PARAPHRASES)
    sets["random pairs (serve is false)"] = [
        (a, b) for a, b in (rng.sample(texts, 2) for _ in range(300))
    ]
    return served_by_arm(m, ARMS, sets, BOUNDS)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--traps-only", action="store_true")
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
    q: dict[str, object] = {}
    if not args.traps_only:
        q = qqp(m, args.pairs, args.limit, args.skip, arms=ARMS, seed=19)
        print(f"\n2. QQP holdout rows {args.skip}..: {q['pairs']} pairs, {q['entries']} entries")
        print(f"  {'bound':>5} {'rules':>7} {'served':>6} {'false':>5} {'false/1k served':>15} "
              f"{'recall':>7}   control: as many removed at random -> false/1k served")  # fmt: skip
        for row in q["rows"]:  # type: ignore[attr-defined]
            for arm in ARMS:
                s = row[arm]
                ctl = row["random_removal_control"]["false_per_1000_served"]
                tail = f"   {ctl:.1f}" if arm == "after" else ""
                print(f"  {row['bound']:>5} {arm:>7} {s['served']:>6} {s['false']:>5} "
                      f"{s['false_per_1000_served']:>15.1f} {s['recall']:>7.4f}{tail}")  # fmt: skip
    print(
        orjson.dumps(
            {"traps": t, "qqp": q, "ran_s": round(time.perf_counter() - started, 1)}
        ).decode()
    )


if __name__ == "__main__":
    main()
