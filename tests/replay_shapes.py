"""Synthetic outcome tables in the shapes outsiders feed `arbiter replay` (issue 17's contract):
RouteLLM-like two-model tables, MT Bench-like two-turn rows, an AlpacaEval-like 11-model pool,
and the odd ones (no task, no token counts, a BOM, Windows line endings, one row, equal labels).
Every table is built here; none is copied from shared data."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
# an AlpacaEval-like pool: names as the shipped chat.toml expects, prices from cheap to dear
ELEVEN = {
    STRONG: (10.0, 30.0),
    "gpt-4-0613:concise": (30.0, 60.0),
    "claude-2.1": (8.0, 24.0),
    "claude-instant-1.2": (0.8, 2.4),
    "gpt-3.5-turbo-1106": (1.0, 2.0),
    "mistralai/Mixtral-8x7B-Instruct-v0.1:concise": (0.6, 0.6),
    "Qwen/Qwen-14B-Chat": (0.3, 0.3),
    "lmsys/vicuna-13b-v1.5": (0.3, 0.3),
    "teknium/OpenHermes-2.5-Mistral-7B": (0.2, 0.2),
    "google/gemma-7b-it": (0.2, 0.2),
    "google/gemma-2b-it": (0.1, 0.1),
}
PRICES = {**ELEVEN, WEAK: (0.24, 0.24)}
PROMPTS = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
    "May. How many clips did Natalia sell altogether in April and May?",
    "Which of the following is a function of the liver?\nA. digestion\nB. detoxification\n"
    "C. respiration\nD. circulation\nAnswer:",
    "Write a short poem about the sea at night.",
    "Translate 'good morning' into French.",
)


def write_models(path: Path, models: list[str]) -> Path:
    path.write_text(json.dumps({"models": [
        {"id": m, "price_in_per_mtok": PRICES[m][0], "price_out_per_mtok": PRICES[m][1]}
        for m in models
    ]}))  # fmt: skip
    return path


def row(i: int, models: list[str], **overrides: Any) -> dict[str, Any]:
    """Row i: the strong model is right on 90% of prompts, the others on 40-80%."""
    rng = random.Random(i)
    prompt = PROMPTS[i % len(PROMPTS)] + f" (case {i})"
    outcomes = {}
    for k, m in enumerate(models):
        p = 0.9 if m == STRONG else 0.8 - 0.04 * k
        answer = f"Let me work it out step by step.\n#### {i % 7}" if i % 2 else "B"
        outcomes[m] = {
            "quality": 1.0 if rng.random() < p else 0.0,
            "response": answer,
            "prompt_tokens": -(-len(prompt) // 4),
            "completion_tokens": -(-len(answer) // 4),
        }
    r = {
        "id": f"syn-{i}",
        "benchmark": "synthetic",
        "task": ("math", "knowledge", "creative", "translation")[i % 4],
        "subject": None,
        "messages": [{"role": "user", "content": prompt}],
        "outcomes": outcomes,
    }
    return r | overrides


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


def _two_turns(r: dict[str, Any]) -> dict[str, Any]:
    """MT Bench's shape: the second user turn follows an answer; quality is the turns' mean."""
    turns = [*r["messages"], {"role": "assistant", "content": "first answer " * 60},
             {"role": "user", "content": "Now say it again, in one sentence."}]  # fmt: skip
    outs = {m: o | {"quality": 0.5 * o["quality"] + 0.25} for m, o in r["outcomes"].items()}
    return r | {"messages": turns, "outcomes": outs}


def _no_tokens(r: dict[str, Any]) -> dict[str, Any]:
    outs = {
        m: _without(_without(o, "prompt_tokens"), "completion_tokens")
        for m, o in r["outcomes"].items()
    }
    return r | {"outcomes": outs}


def _graded(r: dict[str, Any]) -> dict[str, Any]:
    """Floats in [0, 1] (AlpacaEval's judged preference), not 0/1 labels."""
    outs = {m: o | {"quality": round(0.2 + 0.6 * o["quality"] * 0.9, 3)}
            for m, o in r["outcomes"].items()}  # fmt: skip
    return r | {"outcomes": outs}


def _equal(r: dict[str, Any]) -> dict[str, Any]:
    return r | {"outcomes": {m: o | {"quality": 1.0} for m, o in r["outcomes"].items()}}


_odd_keys = {"task": "roleplay", "subject": "koala", "judge": {"v": 2}}
Shape = tuple[list[str], int, Callable[[dict[str, Any]], dict[str, Any]], str]
TWO = [STRONG, WEAK]
# name -> (the table's models, rows, how each row is changed, how the file is written)
SHAPES: dict[str, Shape] = {
    "plain_jsonl": (TWO, 24, lambda r: r, "jsonl"),
    "gzip": (TWO, 24, lambda r: r, "gz"),
    "two_turns": (TWO, 24, _two_turns, "jsonl"),
    "no_task": (TWO, 24, lambda r: _without(r, "task"), "jsonl"),
    "null_task": (TWO, 24, lambda r: r | {"task": None}, "jsonl"),
    "unknown_task_extra_keys": (TWO, 24, lambda r: r | _odd_keys, "jsonl"),
    "int_labels": (
        TWO,
        24,
        lambda r: (
            r
            | {
                "outcomes": {
                    m: o | {"quality": int(o["quality"])} for m, o in r["outcomes"].items()
                }
            }
        ),
        "jsonl",
    ),
    "graded_floats": (TWO, 24, _graded, "jsonl"),
    "no_token_counts": (TWO, 24, _no_tokens, "jsonl"),
    "one_row": (TWO, 1, lambda r: r, "jsonl"),
    "crlf": (TWO, 24, lambda r: r, "crlf"),
    "bom": (TWO, 24, lambda r: r, "bom"),
    "equal_labels": (TWO, 24, _equal, "jsonl"),
    "eleven_models": (list(ELEVEN), 24, lambda r: r, "gz"),
}


def write_shape(tmp: Path, name: str, models_file: list[str] | None = None) -> tuple[Path, Path]:
    """(table, models file) of one shape; `models_file` prices only those models."""
    models, n, change, how = SHAPES[name]
    lines = [json.dumps(change(row(i, models))) for i in range(n)]
    text = ("\r\n" if how == "crlf" else "\n").join(lines) + "\n"
    data = ("\ufeff" if how == "bom" else "") + text
    table = tmp / f"{name}.jsonl{'.gz' if how == 'gz' else ''}"
    raw = data.encode("utf-8")
    table.write_bytes(gzip.compress(raw) if how == "gz" else raw)
    return table, write_models(tmp / f"{name}.models.json", models_file or models)


def write_rows(tmp: Path, rows: list[dict[str, Any]], models: list[str] = TWO) -> tuple[Path, Path]:
    table = tmp / "rows.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return table, write_models(tmp / "rows.models.json", models)


MT_CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem",
                 "humanities")  # fmt: skip
MT_FIRST_TURNS = {
    "writing": "Compose an engaging travel blog post about a recent trip to Hawaii.",
    "roleplay": "Pretend to be Elon Musk. Why do we need to go to Mars?",
    "reasoning": "You have just overtaken the second person in a race. What is your position?",
    "math": "The vertices of a triangle are at (0, 0), (-1, 1) and (3, 3). What is its area?",
    "coding": "Write a Python program that returns the 5 most frequent words in a directory.",
    "extraction": "Extract the book's name, author, main character and year from these texts.",
    "stem": "What is superposition, and how does it relate to quantum entanglement?",
    "humanities": "How do GDP, inflation and unemployment rates relate to each other?",
}


def mt_bench_rows(between: bool = True) -> list[dict[str, Any]]:
    """MT Bench as an outsider converts it (issue 17: "one row per question"): 80 questions, 10
    per category, two user turns (with a placeholder first answer between them, or, `between`
    off, the two questions back to back), GPT-4 Turbo's and Mixtral's per-turn 1-10 judge scores
    (kept as an extra key) rescaled and averaged into `quality`; responses hold both answers and
    the token counts cover both turns."""
    rng = random.Random(80)
    rows = []
    for i in range(80):
        category = MT_CATEGORIES[i // 10]
        first = f"{MT_FIRST_TURNS[category]} (question {81 + i})"
        second = "Now rewrite your previous answer as a limerick."
        outcomes = {}
        for model, mean in ((STRONG, 8.5), (WEAK, 7.0)):
            scores = [min(10, max(1, round(rng.gauss(mean - t, 1.6)))) for t in (0.0, 0.5)]
            answers = [f"{model} answers turn {t + 1}. " * rng.randint(3, 30) for t in (0, 1)]
            outcomes[model] = {
                "quality": sum((s - 1) / 9 for s in scores) / 2,
                "turn_scores": scores,
                "response": "\n\n".join(answers),
                "prompt_tokens": -(-len(first) // 4)
                - (-len(answers[0]) // 4)
                - (-len(second) // 4),
                "completion_tokens": -(-len("".join(answers)) // 4),
            }
        middle = [{"role": "assistant", "content": "(the model's first answer)"}] if between else []
        messages = [
            {"role": "user", "content": first},
            *middle,
            {"role": "user", "content": second},
        ]
        rows.append({"id": f"mt-bench-{81 + i}", "question_id": 81 + i, "category": category,
                     "task": category, "messages": messages, "outcomes": outcomes})  # fmt: skip
    return rows
