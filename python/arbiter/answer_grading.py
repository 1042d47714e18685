"""Every signal an answered request gives, before the judge: the automatic checks (text graders,
tool calls) and agreement with a reference, each over EVERY choice of the answer (n > 1), combined
as their mean, or their best when the caller said it keeps the best (grading_hints). The learner
records them all and learns from the highest by records.GRADER_PRECEDENCE; the judge is asked only
when none applies (judge_asks says what it would see: the tools and the calls, never an empty
string). Pure and synchronous: the learner runs it in a worker thread when the answer is long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from arbiter import grading
from arbiter.answer_choices import Choice, OfferedTools
from arbiter.grading import Grade
from arbiter.grading_hints import Pick
from arbiter.grading_tools import describe_calls, describe_tools, grade_tool_calls
from arbiter.records import GraderKind
from arbiter.reference import ReferenceGrader

__all__ = ["JUDGE_MAX_CHOICES", "Signal", "combine", "judge_asks", "signals"]

JUDGE_MAX_CHOICES: Final = 8  # judge calls cost money: n > 8 judges the first 8 choices
_TOOL_FINISH: Final = frozenset({"tool_calls", "function_call"})


@dataclass(frozen=True, slots=True)
class Signal:
    grader: GraderKind
    score: float
    detail: str


def combine(grades: Sequence[Grade], pick: Pick) -> tuple[float, str]:
    """(score, detail) of several choices' grades: the mean, or the best."""
    if len(grades) == 1:
        return grades[0].score, f"{grades[0].grader}: {grades[0].detail}"
    scores = [g.score for g in grades]
    if pick == "best":
        i = max(range(len(grades)), key=scores.__getitem__)
        g = grades[i]
        return g.score, f"best of {len(grades)} choices (choice {i}) {g.grader}: {g.detail}"
    mean = sum(scores) / len(scores)
    listed = ", ".join(f"{s:.2f}" for s in scores[:16])
    return mean, f"mean of {len(grades)} choices [{listed}]; first: {grades[0].detail}"


def auto_grade(
    c: Choice,
    *,
    task: str,
    prompt: str,
    response_format: Mapping[str, Any] | None,
    tools: OfferedTools | None,
) -> Grade | None:
    if c.tool_calls:
        return grade_tool_calls(c.tool_calls, tools)
    return grading.grade_answer(
        task=task,
        prompt=prompt,
        content=c.text,
        finish_reason=c.finish_reason,
        response_format=response_format,
    )


def signals(
    choices: Sequence[Choice],
    *,
    task: str,
    prompt: str,
    response_format: Mapping[str, Any] | None,
    tools: OfferedTools | None,
    reference: str | None,
    references: ReferenceGrader | None,
    pick: Pick,
) -> list[Signal]:
    """The signals every choice has, strongest first (a kind is left out unless every choice
    has it: a mean over some of the choices would grade another answer)."""
    out: list[Signal] = []
    if reference is not None and references is not None:
        graded = [
            references.grade(c.text, reference) if not c.tool_calls else None for c in choices
        ]
        if graded and all(g is not None for g in graded):
            score, detail = combine([g for g in graded if g is not None], pick)
            out.append(Signal("reference", score, detail))
    autos = [
        auto_grade(c, task=task, prompt=prompt, response_format=response_format, tools=tools)
        for c in choices
    ]
    if autos and all(g is not None for g in autos):
        score, detail = combine([g for g in autos if g is not None], pick)
        out.append(Signal("auto", score, detail))
    return out


def judge_asks(
    choices: Sequence[Choice], prompt: str, tools: OfferedTools | None
) -> list[tuple[str, str]]:
    """(question, answer) for the judge, one per choice (at most JUDGE_MAX_CHOICES). The question
    lists the tools offered; an answer that is a call shows it. A tool call whose arguments were
    not captured (a relayed stream keeps only text) is not judged: its text alone is not it."""
    question = prompt if tools is None else f"{prompt}\n\n{describe_tools(tools)}"
    asks: list[tuple[str, str]] = []
    for c in choices[:JUDGE_MAX_CHOICES]:
        if c.finish_reason in _TOOL_FINISH and not c.tool_calls:
            return []
        asks.append((question, describe_calls(c.text, c.tool_calls)))
    return asks
