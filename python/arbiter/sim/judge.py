"""The simulated judge: recognises Arbiter's judge prompt and scores the answer in it.

Its verdict agrees with how the simulator generated the answer (a registry of generated answers),
falling back to checks a careful grader would make. Good answers score 7-10, bad ones 1-4.
"""

from __future__ import annotations

import ast
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from random import Random

from arbiter import linear
from arbiter.sim.content import REFUSAL, detect_task
from arbiter.workload import check_answer, final_answer, parse_json_answer, recognise, terms_of

_PY_BLOCK = linear.compile(r"(?s)```(?:python|py)\s*\n(.*?)```")  # linear-time: untrusted
_TERMINAL = tuple(".!?\"')`]}")


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    question: str
    answer: str


def parse_judge_prompt(text: str) -> JudgeRequest | None:
    """The question and answer of Arbiter's judge prompt, or None when `text` is not one."""
    q_at = text.find("[QUESTION]")
    a_at = text.find("[ANSWER]", q_at + 1)
    if q_at < 0 or a_at < 0 or "SCORE:" not in text.upper():
        return None
    end = text.find("[END]", a_at)
    question = text[q_at + len("[QUESTION]") : a_at].strip()
    answer = text[a_at + len("[ANSWER]") : end if end >= 0 else len(text)].strip()
    return JudgeRequest(question, answer)


class AnswerRegistry:
    """Which generated answers were good: text hash -> verdict, bounded (oldest forgotten)."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._verdicts: OrderedDict[bytes, bool] = OrderedDict()

    def record(self, answer: str, good: bool) -> None:
        key = _key(answer)
        self._verdicts[key] = good
        self._verdicts.move_to_end(key)
        while len(self._verdicts) > self._capacity:
            self._verdicts.popitem(last=False)

    def lookup(self, answer: str) -> bool | None:
        return self._verdicts.get(_key(answer))

    def __len__(self) -> int:
        return len(self._verdicts)


def _key(answer: str) -> bytes:
    return hashlib.blake2b(" ".join(answer.split()).encode(), digest_size=16).digest()


def score_for(answer: str, good: bool) -> int:
    """7-10 for a good answer, 1-4 for a bad one, fixed per answer text."""
    h = int.from_bytes(_key(answer)[:4], "big")
    return (7 if good else 1) + h % 4


def verdict(request: JudgeRequest, registry: AnswerRegistry) -> tuple[bool, str]:
    """(good, reason): the registry's word when it generated the answer, else heuristics."""
    known = registry.lookup(request.answer)
    if known is not None:
        return known, "matches" if known else "does not match"
    return _heuristic(request.question, request.answer)


def judge_reply(
    request: JudgeRequest, registry: AnswerRegistry, accuracy: float, rng: Random
) -> str:
    """The judge's reply: a one-line rationale, then `SCORE: n`."""
    good, _why = verdict(request, registry)
    if rng.random() >= accuracy:
        good = not good  # an imperfect judge
    if good:
        rationale = "The answer addresses the question correctly and completely."
    else:
        rationale = "The answer is incorrect, incomplete or does not address the question."
    return f"{rationale}\nSCORE: {score_for(request.answer, good)}"


def _heuristic(question: str, answer: str) -> tuple[bool, str]:
    solution = recognise(question)
    task = solution.task if solution is not None else detect_task(question, None)
    text = answer.strip()
    if not text or text == REFUSAL or text.lower().startswith("i'm sorry"):
        return False, "refusal or empty"
    if solution is not None and solution.truth is not None:
        return check_answer(task, solution.truth, text) == 1.0, "checked against the truth"
    if task == "code":
        return _code_ok(text, solution.key_terms[0] if solution else None), "code check"
    if task == "math":
        return final_answer(text) is not None, "has a final answer"
    if task == "extraction":
        try:
            return isinstance(parse_json_answer(text), dict), "valid JSON object"
        except ValueError:
            return False, "invalid JSON"
    if task == "translation" and solution is not None:
        return solution.reference in text, "matches the reference translation"
    terms = solution.key_terms if solution is not None else terms_of(question)[:4]
    lower = text.lower()
    covered = sum(1 for t in terms if t in lower) / len(terms) if terms else 1.0
    ok = len(text) >= 80 and text.endswith(_TERMINAL) and covered >= 0.5
    return ok, "relevant and complete" if ok else "vague, off-topic or truncated"


def _code_ok(text: str, name: str | None) -> bool:
    blocks = _PY_BLOCK.findall(text)
    if not blocks:
        return False
    for block in blocks:
        try:
            tree = ast.parse(block)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        if name is None or any(
            isinstance(node, ast.FunctionDef) and node.name == name for node in ast.walk(tree)
        ):
            return True
    return False
