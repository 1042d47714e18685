"""The classifier's "math" as a classifier on train rows (validation a check), never held-out.

Reads the shared tables in place (../shared/data): GSM8K (every row a math word problem), MMLU
(by subject: the five mathematics subjects are math; the quantitative sciences -- physics,
chemistry, economics, accounting, econometrics, computer science, engineering -- are counted on
their own, neither math nor not; every other subject is not math), AlpacaEval (open-ended
requests, unlabelled: the rows called math are listed for a reader to judge), QQP's first
questions (Quora questions: chat), HumanEval's prompts (code) and the eight MT-Bench-like first
turns of tests/replay_shapes.py (one "math" category). Only rows whose id
`difficulty.split_of` puts in "train" are read (HumanEval and the MT-Bench-like turns have no
held-out use: read with them), or with `--split validation` the validation rows, a check the
rules were not written on; the held-out rows are never classified here.

Per variant (a PYTHONPATH: each is run in a child process, so two versions of arbiter compare in
one run) it prints recall of math on the positive rows, the rate called math on the negative
rows, precision over the labelled rows, and two controls measured in the same run: the same
classifier on every prompt with its words shuffled (a rule that reads the shape of a question
should lose recall; one that reads a bag of words would not), and a random classifier that
calls math at the variant's own positive rate (its precision is the positives' share). Then the
reason (`classify._math_reason`) each row of the newest variant is or is not math, and every
row whose label the variants disagree on.

    python bench/classify_math_rows.py --variant base=/work/wt/base20/python --variant new=python
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARBITER_SHARED_DIR", ROOT.parent / "shared"))
MATH_SUBJECTS = frozenset(
    {"elementary_mathematics", "high_school_mathematics", "college_mathematics",
     "abstract_algebra", "high_school_statistics"}
)  # fmt: skip
QUANTITATIVE_SUBJECTS = frozenset(
    {"high_school_physics", "college_physics", "conceptual_physics", "high_school_chemistry",
     "college_chemistry", "high_school_macroeconomics", "high_school_microeconomics",
     "econometrics", "professional_accounting", "college_computer_science",
     "high_school_computer_science", "electrical_engineering", "machine_learning", "astronomy"}
)  # fmt: skip
SHUFFLE_SEED = 20


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_rows(split: str = "train") -> list[dict[str, Any]]:
    """Rows of `split` of every table: {group, id, text, label} (None: unlabelled)."""
    sys.path.insert(0, str(ROOT / "python"))
    sys.path.insert(0, str(ROOT))
    from tests.replay_shapes import MT_FIRST_TURNS

    from arbiter.difficulty import split_of

    routing = SHARED / "data" / "routing"
    rows: list[dict[str, Any]] = []

    def add(group: str, row_id: str, text: str, label: bool | None) -> None:
        rows.append({"group": group, "id": row_id, "text": text, "label": label})

    for r in _jsonl(routing / "gsm8k.dev.jsonl.gz"):
        if split_of(r["id"]) == split:
            add("gsm8k", r["id"], r["messages"][-1]["content"], True)
    for r in _jsonl(routing / "mmlu.dev.jsonl.gz"):
        if split_of(r["id"]) != split:
            continue
        if r["subject"] in MATH_SUBJECTS:
            add("mmlu math subjects", r["id"], r["messages"][-1]["content"], True)
        elif r["subject"] in QUANTITATIVE_SUBJECTS:
            add("mmlu quantitative sciences", r["id"], r["messages"][-1]["content"], None)
        else:
            add("mmlu other subjects", r["id"], r["messages"][-1]["content"], False)
    for r in _jsonl(routing / "alpaca_eval.dev.jsonl.gz"):
        if split_of(r["id"]) == split:
            add("alpaca_eval", r["id"], r["messages"][-1]["content"], None)
    for r in _jsonl(SHARED / "data" / "cache" / "qqp.dev.jsonl.gz"):
        if split_of(r["id"]) == split:
            add("qqp questions", r["id"], r["text_a"], False)
    if split == "train":  # no held-out use: read once, with the train rows
        for r in _jsonl(SHARED / "data" / "graders" / "humaneval.dev.jsonl.gz"):
            add("humaneval", r["task_id"], r["prompt"], False)
        for category, turn in MT_FIRST_TURNS.items():
            add("mt-bench-like", category, turn, category == "math")
    return rows


def shuffled_words(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def child(path: str) -> None:
    """Classify the texts on stdin (a JSON list) with the arbiter under ``path``."""
    sys.path.insert(0, path)
    from arbiter import classify as c

    texts = json.load(sys.stdin)
    out = []
    for text in texts:
        task = c.classify([{"role": "user", "content": text}])
        reason = getattr(c, "_math_reason", None)
        lower = c._bounded_lower(text)
        why = reason(lower, c._words(lower)) if reason is not None else None
        question = getattr(c, "_word_problem_question", None)
        alone = question is not None and question(lower) is not None
        out.append([task, why, alone])
    json.dump({"file": c.__file__, "labels": out}, sys.stdout)


def run_variant(path: str, texts: list[str]) -> tuple[str, list[list[Any]]]:
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", path],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    answer = json.loads(proc.stdout)
    return answer["file"], answer["labels"]


def metrics(rows: list[dict[str, Any]], called: list[bool]) -> dict[str, Any]:
    by_group: dict[str, list[int]] = {}
    tp = fp = fn = 0
    for row, is_math in zip(rows, called, strict=True):
        seen = by_group.setdefault(row["group"], [0, 0])
        seen[0] += is_math
        seen[1] += 1
        if row["label"] is True:
            tp += is_math
            fn += not is_math
        elif row["label"] is False:
            fp += is_math
    return {
        "groups": {g: {"math": m, "rows": n} for g, m, n in ((g, *v) for g, v in by_group.items())},
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def random_control(rows: list[dict[str, Any]], rate: float, seeds: int = 20) -> dict[str, float]:
    """A classifier calling math at random at ``rate``: mean precision and recall."""
    precision = recall = 0.0
    for seed in range(seeds):
        rng = random.Random(seed)
        m = metrics(rows, [rng.random() < rate for _ in rows])
        precision += (m["precision"] or 0.0) / seeds
        recall += (m["recall"] or 0.0) / seeds
    return {"precision": round(precision, 4), "recall": round(recall, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument(
        "--split",
        choices=("train", "validation"),
        default="train",
        help="train (the rules were written on it) or validation (a check, not tuned on)",
    )
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    variants = [v.split("=", 1) for v in args.variant] or [["this", "python"]]
    rows = load_rows(args.split)
    rng = random.Random(SHUFFLE_SEED)
    texts = [r["text"] for r in rows]
    shuffled = [shuffled_words(t, rng) for t in texts]
    report: dict[str, Any] = {"split": args.split, "rows": len(rows), "variants": {}}
    labels: dict[str, list[list[Any]]] = {}
    for name, path in variants:
        where, got = run_variant(path, texts)
        _, got_shuffled = run_variant(path, shuffled)
        labels[name] = got
        called = [task == "math" for task, *_ in got]
        real = metrics(rows, called)
        control = metrics(rows, [task == "math" for task, *_ in got_shuffled])
        # the word-problem rule by itself (classify20's `_word_problem_question`), every other
        # rule off: what it would call math on its own, and on shuffled words
        alone = metrics(rows, [a for *_, a in got])
        alone_shuffled = metrics(rows, [a for *_, a in got_shuffled])
        labelled = [r for r in rows if r["label"] is not None]
        rate = sum(c for r, c in zip(rows, called, strict=True) if r["label"] is not None) / len(
            labelled
        )
        report["variants"][name] = {
            "arbiter": where,
            "real": real,
            "shuffled_words": control,
            "random_at_same_rate": random_control(labelled, rate),
            "word_problem_rule_alone": alone,
            "word_problem_rule_alone_shuffled_words": alone_shuffled,
        }
    print(json.dumps(report, indent=1))
    newest = variants[-1][0]
    print(f"\nwhy, {newest} (reason -> rows, by group):")
    reasons: Counter[tuple[str, str, str]] = Counter()
    for row, (task, why, _) in zip(rows, labels[newest], strict=True):
        reasons[(row["group"], task if task != "math" else "math", str(why))] += 1
    for (group, task, why), n in sorted(reasons.items()):
        print(f"  {group:28s} {task:14s} {why:16s} {n}")
    print("\nmath rows of the labelled-positive groups not called math, and why:")
    for row, (task, why, _) in zip(rows, labels[newest], strict=True):
        if row["label"] is True and task != "math" and row["group"] == "gsm8k":
            print(f"  {row['id']} -> {task} ({why}): {row['text'][:160]!r}")
    print(f"\nAlpacaEval train rows {newest} calls math (unlabelled: judge by eye):")
    for row, (task, why, _) in zip(rows, labels[newest], strict=True):
        if row["group"] == "alpaca_eval" and task == "math":
            print(f"  {row['id']} ({why}): {row['text'][:140]!r}")
    if len(variants) > 1:
        first = variants[0][0]
        print(f"\nrows {first} and {newest} label differently:")
        for row, (a, *_), (b, why, _) in zip(rows, labels[first], labels[newest], strict=True):
            if (a == "math") != (b == "math"):
                print(f"  {row['group']} {row['id']}: {a} -> {b} ({why}): {row['text'][:140]!r}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
