"""The project's own demo workload: templated prompts with ground truth, deterministic from a seed.

Owns prompt generation, the truths, and the inverse (`recognise`) that the simulator uses to know
what a prompt asks. No I/O, no randomness outside the `random.Random` it is handed.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from random import Random
from typing import Any

from arbiter import linear
from arbiter.workload._base import (
    SYSTEM_PROMPTS,
    TASK_WEIGHTS,
    TASKS,
    Family,
    Solution,
    Task,
    WorkItem,
    canonical_json,
    check_answer,
    final_answer,
    parse_json_answer,
    pick,
)
from arbiter.workload._graded import CODE_FAMILIES, EXTRACTION_FAMILIES, MATH_FAMILIES
from arbiter.workload._open import OPEN_FAMILIES, terms_of

__all__ = [
    "TASKS",
    "Solution",
    "Task",
    "WorkItem",
    "canonical_json",
    "check_answer",
    "final_answer",
    "last_user_text",
    "make_workload",
    "parse_json_answer",
    "recognise",
    "terms_of",
]


_FAMILIES: tuple[Family, ...] = MATH_FAMILIES + CODE_FAMILIES + EXTRACTION_FAMILIES + OPEN_FAMILIES


@dataclass(frozen=True, slots=True)
class _Template:
    """A template as a linear-time pattern (arbiter.linear: prompts are untrusted text). A
    placeholder used twice is captured twice (no backreferences) and the copies compared."""

    pattern: linear.Pattern
    repeats: tuple[tuple[str, str], ...]  # (placeholder, group of its later copy)

    def values(self, text: str) -> dict[str, str] | None:
        match = self.pattern.match(text)
        if match is None:
            return None
        groups = {name: match.group(i) or "" for name, i in self.pattern.groupindex.items()}
        if any(groups[name] != groups[copy] for name, copy in self.repeats):
            return None
        return {name: value for name, value in groups.items() if "__" not in name}


def _compile(template: str) -> _Template:
    parts: list[str] = ["(?s)"]
    repeats: list[tuple[str, str]] = []
    seen: set[str] = set()
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name in seen:
            copy = f"{name}__{len(repeats)}"
            repeats.append((name, copy))
            parts.append(f"(?P<{copy}>.+?)")
        else:
            parts.append(f"(?P<{name}>.+?)")
        seen.add(name)
    parts.append(r"\z")
    return _Template(linear.compile("".join(parts)), tuple(repeats))


_PATTERNS: tuple[tuple[_Template, Family], ...] = tuple(
    (_compile(t), fam) for fam in _FAMILIES for t in fam.templates
)


def recognise(prompt: str) -> Solution | None:
    """The solution of a prompt that one of this module's templates produced, else None."""
    text = prompt.strip()
    for template, family in _PATTERNS:
        values = template.values(text)
        if values is None:
            continue
        try:
            return family.solve(values)
        except (KeyError, ValueError, StopIteration):
            continue
    return None


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message (content parts joined), or '' when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
            return ""
    return ""


def _make_item(rng: Random, family: Family) -> WorkItem:
    template = family.templates[rng.randrange(len(family.templates))]
    params = family.draw(rng)
    prompt = template.format(**params)
    solution = family.solve(params)
    messages: list[dict[str, str]] = []
    if rng.random() < 0.3:
        messages.append({"role": "system", "content": pick(rng, SYSTEM_PROMPTS)})
    messages.append({"role": "user", "content": prompt})
    max_tokens = family.max_tokens[rng.randrange(len(family.max_tokens))]
    return WorkItem(
        task=family.task,
        messages=messages,
        response_format=family.response_format(params),
        max_tokens=max_tokens,
        truth=solution.truth,
        family=family.name,
        difficulty=solution.difficulty,
    )


def make_workload(n: int, seed: int, tasks: tuple[Task, ...] = TASKS) -> list[WorkItem]:
    """A mixed, reproducible stream of `n` items drawn from `tasks` (all task types by default)."""
    if not tasks:
        raise ValueError("tasks must not be empty")
    rng = Random(seed)
    weights = [TASK_WEIGHTS[t] for t in tasks]
    by_task = {t: [f for f in _FAMILIES if f.task == t] for t in tasks}
    items: list[WorkItem] = []
    for _ in range(n):
        task = rng.choices(tasks, weights)[0]
        families = by_task[task]
        items.append(_make_item(rng, families[rng.randrange(len(families))]))
    return items
