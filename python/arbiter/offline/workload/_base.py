"""Workload building blocks: the item/solution types, answer checking and shared vocabularies.

Pure data and functions; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from arbiter import linear
from arbiter.classify import TASKS as TASKS  # re-exported: the one vocabulary
from arbiter.classify import TaskType
from arbiter.json_depth import nests_deeper_than

# one vocabulary of task types: the classifier's
Task = TaskType
TASK_WEIGHTS: Mapping[Task, float] = {
    "code": 0.16,
    "math": 0.16,
    "extraction": 0.16,
    "summarization": 0.1,
    "translation": 0.1,
    "creative": 0.12,
    "chat": 0.2,
}
SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise, accurate assistant.",
    "Answer carefully. Show your reasoning when it helps.",
)
# Linear-time patterns (arbiter.linear): answers are untrusted text.
_ANSWER_RE = linear.compile(r"(?im)^\s*\**answer\**\s*[:=]\s*\**\s*\$?\s*(-?[\d,]*\.?\d+)")
_FENCE_RE = linear.compile(r"(?s)```(?:json|python|py)?\s*\n(.*?)(?:```|\z)")


@dataclass(frozen=True, slots=True)
class Solution:
    """What a recognised prompt asks and what a correct answer contains."""

    task: Task
    family: str
    params: Mapping[str, str]
    truth: str | None  # math: the number; JSON tasks: canonical JSON of the expected value
    reference: str  # a correct answer body (code source, translation, worked steps, JSON)
    key_terms: tuple[str, ...]  # words a relevant open-ended answer uses
    difficulty: float  # in [0, 1]; the simulator makes harder prompts fail more often


@dataclass(frozen=True, slots=True)
class WorkItem:
    task: Task
    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None
    max_tokens: int | None
    truth: str | None
    family: str = ""
    difficulty: float = 0.5

    def check(self, content: str) -> float | None:
        """1.0/0.0 when this item has a ground truth, else None."""
        return check_answer(self.task, self.truth, content)


@dataclass(frozen=True, slots=True)
class Family:
    """One prompt family: templates, how to draw parameters and how to solve them."""

    name: str
    task: Task
    templates: tuple[str, ...]
    draw: Callable[[Random], dict[str, str]]
    solve: Callable[[Mapping[str, str]], Solution]
    response_format: Callable[[Mapping[str, str]], dict[str, Any] | None] = lambda _p: None
    max_tokens: tuple[int | None, ...] = (None,)


# ---------------------------------------------------------------------------------------------
# answer checking (shared with the simulator's judge)


def final_answer(content: str) -> str | None:
    """The number on the last `Answer: N` line, normalised, or None."""
    found = _ANSWER_RE.findall(content)
    if not found:
        return None
    return norm_number(found[-1])


def norm_number(text: str) -> str | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() else repr(value)


def parse_json_answer(content: str) -> Any:
    """The JSON value in a reply (bare or in a fenced block); raises ValueError if there is none."""
    text = content.strip()
    fenced = _FENCE_RE.search(text)
    if fenced and not text.startswith(("{", "[")):
        text = fenced.group(1).strip()
    if nests_deeper_than(text):  # "[[[[...": an answer, not a value we can read
        raise ValueError("JSON nested too deeply")
    return json.loads(text)


def check_answer(task: str, truth: str | None, content: str) -> float | None:
    if truth is None:
        return None
    if task == "math":
        return 1.0 if final_answer(content) == norm_number(truth) else 0.0
    try:
        got = parse_json_answer(content)
    except ValueError:
        return 0.0
    return 1.0 if got == json.loads(truth) else 0.0


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# vocabularies

NAMES = (
    "Maria", "Tom", "Aisha", "Kenji", "Lucas", "Priya", "Omar", "Elena",
    "Sam", "Fatima", "Noah", "Chen", "Sofia", "Diego", "Hana", "Ivan",
)  # fmt: skip
CITIES = (
    "Lisbon", "Oslo", "Nairobi", "Osaka", "Lima", "Toronto", "Cairo", "Dublin",
    "Seoul", "Madrid", "Perth", "Quito",
)  # fmt: skip
ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "cards")
GOODS = ("notebooks", "mugs", "candles", "socks", "batteries", "plants")


def pick(rng: Random, seq: tuple[str, ...]) -> str:
    return seq[rng.randrange(len(seq))]


def sol(
    family: str,
    task: Task,
    params: Mapping[str, str],
    *,
    truth: str | None = None,
    reference: str = "",
    terms: tuple[str, ...] = (),
    difficulty: float = 0.5,
) -> Solution:
    return Solution(task, family, dict(params), truth, reference, terms, difficulty)
