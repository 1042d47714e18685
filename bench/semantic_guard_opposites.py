"""What probe24a's semantic-cache rules change, and the false-hit rate with the shipped
settings on QQP validation rows no earlier choice read.

- `window` (SemanticMatcher.differ_unread): two last turns that differ past what the embeddings
  read (a long turn's first ~126 WordPieces) are never a hit;
- `opposites` (arbiter.cache.pair_guard): one prompt has a word whose opposite the other has
  ("safe" / "dangerous" / "unsafe", "raise" / "lower", "before" / "after");
- `literals` (pair_guard, `--rule literals`): both prompts hold unquoted literals and not the
  same ones ("rm -r" / "rm -f", "foo@example.com" / "foo@example.org");
- `accents` (pair_guard, `--rule accents`): a word of one differs from a word of the other by
  its diacritics alone ("avó" / "avô", "año" / "ano"): one vector to the embeddings.

Two arms with the shipped stages and thresholds (nothing is tuned here): `before` (the rules
written before the measured ones: for `opposites` pair_guard's five earlier rules, no window
rule; for `literals` all the others) and `after` (those and the measured ones).

1. Trap pairs, each stored prompt alone in its own context (the only candidate: the worst case),
   asked both ways: every serve is a false hit. `dev`: the pairs the rules were written after;
   `validation`: written before any run with the rules, never looked at to change them. Controls
   in the same run: paraphrase pairs (a serve is right: what the rules may cost) and random
   pairs of the same texts.
2. QQP holdout rows 15000-19999 (`--skip 15000 --limit 5000`: the validation split's rows no
   earlier bench read; read once, for no choice): served, false per 1,000 served and recall per
   bound for both arms, next to removing as many serves at random (seeded), and the `after`
   arm's serves scored against the same labels shuffled (the rate a cache that served without
   regard to meaning would show on these serves).

    python bench/semantic_guard_opposites.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        --skip 15000 --limit 5000
    python bench/semantic_guard_opposites.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        --rule literals --skip 5000 --limit 5000   # rows 15000-19999 were read once already
    python bench/semantic_guard_opposites.py --pairs ../shared/data/cache/qqp.dev.jsonl.gz \
        --rule accents --skip 5000 --limit 5000

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

from bench.semantic_guard_rules import BOUNDS, PARAPHRASES, _both_ways, qqp, served_by_arm

from arbiter.cache.pair_guard import RULES
from arbiter.cache.semantic import WINDOW, SemanticMatcher, default_matcher
from arbiter.embedding import Embedder
from arbiter.offline.semantic_eval import ask, fill, load_pairs

ALL = (*RULES, WINDOW)
# what `--rule` measures: `before` is every rule but these (of the rules written by then)
MEASURED = {
    "opposites": (("opposites", WINDOW), RULES[:5]),
    "literals": (("literals",), tuple(r for r in ALL if r != "accents")),
    "accents": (("accents",), ALL),
}
MEMO = (
    "The following is an internal memo about our quarterly planning. Our team met on several "
    "occasions to discuss the roadmap, the hiring plan, the budget for the coming year, and the "
    "risks we see in the supply chain. Everyone agreed that the priorities should be reliability, "
    "customer support and the new reporting features. The meeting notes were circulated "
    "afterwards and several people added comments about the timeline. "
) * 3
NOTES = (
    "Release notes for version two of the billing service. The invoices page loads faster, the "
    "export button moved to the toolbar, the old reports were retired and the tax rules for "
    "several regions were updated. Support tickets about late emails are being investigated, "
    "and the team thanks everyone who reported problems during the beta period this spring. "
) * 3
Pairs = list[tuple[str, str]]
DEV: dict[str, Pairs] = {
    "opposites": [
        ("Is ibuprofen safe for dogs?", "Is ibuprofen unsafe for dogs?"),
        ("Is ibuprofen safe for dogs?", "Is ibuprofen dangerous for dogs?"),
        ("Should I take the pill before eating?", "Should I take the pill after eating?"),
        ("What are the advantages of remote work?", "What are the disadvantages of remote work?"),
        ("What foods raise blood pressure?", "What foods lower blood pressure?"),
        ("How to import a CSV into Excel?", "How to export a CSV from Excel?"),
        ("What is the most spoken language?", "What is the least spoken language?"),
        ("Why did he leave?", "Why did she leave?"),
        # a second batch, found after the first rule ran: the size / age / time scales
        ("Is the Moon bigger than Pluto?", "Is the Moon smaller than Pluto?"),
        ("Why are older siblings more responsible?", "Why are younger siblings more responsible?"),
    ],
    "window": [
        (
            MEMO + "\n\nQuestion: who should own the hiring plan?",
            MEMO + "\n\nQuestion: what are the biggest risks mentioned?",
        ),
        (MEMO + "\n\nSummarize the memo.", MEMO + "\n\nList the action items of the memo."),
        (MEMO + "The budget is approved. " + MEMO, MEMO + "The budget is rejected. " + MEMO),
    ],
}
# written before any run of the rules; not looked at to change them
VALIDATION: dict[str, Pairs] = {
    "opposites": [
        ("Is it likely to rain tomorrow in London?", "Is it unlikely to rain tomorrow in London?"),
        (
            "Is it possible to travel faster than light?",
            "Is it impossible to travel faster than light?",
        ),
        ("Why do people agree with this policy?", "Why do people disagree with this policy?"),
        ("How do I encrypt a file with gpg?", "How do I decrypt a file with gpg?"),
        ("How do I upload a file to S3?", "How do I download a file from S3?"),
        ("Sort the list in ascending order", "Sort the list in descending order"),
        ("What is the highest mountain in Africa?", "What is the lowest point in Africa?"),
        ("How do I include a file in a Makefile?", "How do I exclude a file in a Makefile?"),
        ("Why is my code fast on Linux?", "Why is my code slow on Linux?"),
        ("What are the pros of nuclear energy?", "What are the cons of nuclear energy?"),
        (
            "How do I push changes to a remote branch?",
            "How do I pull changes from a remote branch?",
        ),
        ("Is coffee healthy?", "Is coffee unhealthy?"),
        ("How to open a port in the firewall?", "How to close a port in the firewall?"),
        (
            "What is the best programming language for beginners?",
            "What is the worst programming language for beginners?",
        ),
    ],
    "window": [
        (
            NOTES + "\n\nWhat changed in the invoices page?",
            NOTES + "\n\nWhich reports were retired?",
        ),
        (NOTES + "\n\nTranslate the notes above.", NOTES + "\n\nShorten the notes above."),
        (NOTES + "Pricing is unchanged. " + NOTES, NOTES + "Pricing went up by a lot. " + NOTES),
    ],
}
LITERALS_DEV: Pairs = [
    ("What does git reset --hard do?", "What does git reset --soft do?"),
    ("What does rm -r do?", "What does rm -f do?"),
    ("Is foo@example.com a valid email?", "Is foo@example.org a valid email?"),
]
# written before any run of the rule; not looked at to change it
LITERALS_VALIDATION: Pairs = [
    ("What does ls -a show?", "What does ls -l show?"),
    ("How do I ping google.com from Windows?", "How do I ping github.com from Windows?"),
    ("What is stored in /etc/passwd?", "What is stored in /etc/shadow?"),
    ("What does chmod u+x do?", "What does chmod g+w do?"),
    ("Why does pip install --user fail?", "Why does pip install --upgrade fail?"),
    ("Is admin@corp.io a role account?", "Is admin@corp.co a role account?"),
    ("What does list.append do in Python?", "What does list.extend do in Python?"),
    ("Explain os.path.join in Python", "Explain os.path.split in Python"),
    ("What does tar -x do?", "What does tar -c do?"),
    ("Why is my_var undefined in JavaScript?", "Why is my_val undefined in JavaScript?"),
]
LITERALS_PARAPHRASES: Pairs = [
    ("What does git reset --hard do?", "Explain what git reset --hard does"),
    ("How do I use os.path.join?", "How can I use os.path.join?"),
    ("Is foo@example.com a valid email?", "Is foo@example.com a valid email address?"),
]
ACCENTS_DEV: Pairs = [
    ("Qual é o nome da minha avó?", "Qual é o nome da minha avô?"),
    ("¿Cómo se prepara la papa al horno?", "¿Cómo se prepara el papá al horno?"),
    ("¿Cuántos días tiene un año bisiesto?", "¿Cuántos días tiene un ano bisiesto?"),
    ("Ist das Haus schon verkauft?", "Ist das Haus schön verkauft?"),
    ("Pourquoi le beurre est-il sale ?", "Pourquoi le beurre est-il salé ?"),
]
# written before any run of the rule; not looked at to change it
ACCENTS_VALIDATION: Pairs = [
    ("¿Qué beneficios tiene el té verde?", "¿Qué beneficios tiene el te verde?"),
    ("Où est la gare de Lyon ?", "Ou est la gare de Lyon ?"),
    ("Le poisson a-t-il été pêché ici ?", "Le poisson a-t-il été péché ici ?"),
    ("Comment conjuguer le verbe pécher ?", "Comment conjuguer le verbe pêcher ?"),
    ("Mi papá cocina bien, ¿qué le regalo?", "Mi papa cocina bien, ¿qué le regalo?"),
    ("Ich habe zwei Brüder, wie heißen sie?", "Ich habe zwei Bruder, wie heißen sie?"),
    ("¿Él come pan todos los días?", "¿El come pan todos los días?"),
]
ACCENTS_PARAPHRASES: Pairs = [
    ("How do I write a résumé?", "How can I write a résumé?"),
    ("What is a café au lait?", "What's a café au lait?"),
    ("Tips for visiting São Paulo", "Give me tips for visiting São Paulo"),
    ("Qual é o nome da minha avó?", "Qual o nome da minha avó?"),
]
MORE_PARAPHRASES: Pairs = [
    ("Summarize this memo: " + MEMO, "Give me a summary of this memo: " + MEMO),
    ("Summarize these release notes: " + NOTES, "Give me a summary of these notes: " + NOTES),
    ("How can I improve my English speaking?", "How do I improve my spoken English?"),
]


def traps(m: SemanticMatcher, arms: dict[str, tuple[str, ...]], rule: str) -> dict[str, object]:
    dev, validation = DEV, VALIDATION
    paraphrases = [*PARAPHRASES, *MORE_PARAPHRASES]
    if rule == "literals":
        dev, validation = {"literals": LITERALS_DEV}, {"literals": LITERALS_VALIDATION}
        paraphrases += LITERALS_PARAPHRASES
    if rule == "accents":
        dev, validation = {"accents": ACCENTS_DEV}, {"accents": ACCENTS_VALIDATION}
        paraphrases += ACCENTS_PARAPHRASES
    texts = [t for s in (dev, validation) for ps in s.values() for p in ps for t in p]
    rng = random.Random(24)
    sets: dict[str, Pairs] = {f"dev {k}": _both_ways(v) for k, v in dev.items()}
    sets |= {f"validation {k}": _both_ways(v) for k, v in validation.items()}
    sets["paraphrase (serve is right)"] = _both_ways(paraphrases)
    sets["random pairs (serve is false)"] = [
        (a, b) for a, b in (rng.sample(texts, 2) for _ in range(300))
    ]
    return served_by_arm(m, arms, sets)


def shuffled_labels(
    m: SemanticMatcher, path: Path, skip: int, limit: int, rules: tuple[str, ...]
) -> dict[str, float]:
    """The `after` arm's serves at each bound scored against the rows' labels shuffled (seeded):
    a serve counts false when its shuffled label says "not a duplicate" (what a matcher with no
    sense of meaning would score on these rows)."""
    pairs = load_pairs(path, parts=["holdout"], limit=skip + limit)[skip:]
    m.rules = rules
    stored = fill(m, (p.text_a for p in pairs))
    asked, _ = ask(m, pairs, stored)
    labels = [a.duplicate for a in asked]
    random.Random(24).shuffle(labels)
    out = {}
    for bound in BOUNDS:
        th = m.calibration.threshold(bound)
        served = [i for i, a in enumerate(asked) if a.p_false <= th]
        false = sum(not labels[i] for i in served)
        out[str(bound)] = round(1000 * false / len(served), 1) if served else 0.0
    return out


def print_traps(t: dict[str, object], arms: dict[str, tuple[str, ...]]) -> None:
    """The trap sets' table: per arm, each set's asked count and served count at each bound."""
    for arm in arms:
        rows = t[arm]["served"]  # type: ignore[index]
        asked = t[arm]["asked"]  # type: ignore[index]
        print(f"  rules = {arm}")
        print(f"    {'set':<32} {'asked':>5} " + " ".join(f"{b:>5}" for b in BOUNDS))
        for name in asked:
            counts = " ".join(f"{rows[str(b)][name]:>5}" for b in BOUNDS)
            print(f"    {name:<32} {asked[name]:>5} {counts}")


def print_qqp(
    q: dict[str, object], shuffled: dict[str, object], arms: dict[str, tuple[str, ...]], skip: int
) -> None:
    """The QQP holdout's table: per bound and arm, served / false / recall, then the controls."""
    print(f"\n2. QQP holdout rows {skip}..: {q['pairs']} pairs, {q['entries']} entries")
    print(f"  {'bound':>5} {'arm':<8} {'served':>6} {'false':>5} {'false/1k served':>15} "
          f"{'recall':>6}  control: random removal, shuffled labels")  # fmt: skip
    for row in q["rows"]:  # type: ignore[attr-defined]
        for arm in arms:
            r = row[arm]
            print(f"  {row['bound']:>5} {arm:<8} {r['served']:>6} {r['false']:>5} "
                  f"{r['false_per_1000_served']:>15} {r['recall']:>6}")  # fmt: skip
        c = row["random_removal_control"]
        print(f"  {'':>5} {'control':<8} {c['served']:>6} {c['false']:>5} "
              f"{c['false_per_1000_served']:>15}  shuffled labels: "
              f"{shuffled[str(row['bound'])]}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--skip", type=int, default=15000)
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--rule", choices=list(MEASURED), default="opposites")
    args = ap.parse_args()
    measured, before = MEASURED[args.rule]
    arms = {"before": tuple(r for r in before if r not in measured), "after": before}
    arms["after"] = tuple(r for r in ALL if r in before or r in measured)
    started = time.perf_counter()
    embedder = Embedder.load()
    embedder.table()
    m = default_matcher(embedder, 0.5)
    print(f"decider {m.decider}; thresholds " + ", ".join(
        f"{b}: {m.calibration.threshold(b):.4f}" for b in BOUNDS))  # fmt: skip
    print(f"measuring {args.rule}: before {arms['before']}, after {arms['after']}")
    t = traps(m, arms, args.rule)
    print("\n1. trap pairs (asked both ways; each a prompt alone in its context): served")
    print_traps(t, arms)
    q = qqp(m, args.pairs, args.limit, args.skip, arms=arms, seed=24)
    shuffled = shuffled_labels(m, args.pairs, args.skip, args.limit, arms["after"])
    print_qqp(q, shuffled, arms, args.skip)
    ran = round(time.perf_counter() - started, 1)
    print(orjson.dumps({"traps": t, "qqp": q, "shuffled_labels": shuffled, "ran_s": ran}).decode())


if __name__ == "__main__":
    main()
