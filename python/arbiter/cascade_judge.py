"""The judge in the cascade: the LLM judge grades the cheap model's answer inside the request.

For a task with a `routing.cascade_judge_gain` line, the first answer goes through the hard
checks (no complete answer, refusal, hedging, repetition, graders: `cascade.should_escalate`);
if it passes them, `routing.cascade_judge_model` grades it with the judge's own prompt
(judge.py: 1-10, read as (s - 1) / 9) and the expected gain of escalating is a + b x that
score, on the cascade's one scale (cascade_gain.py), against `cascade_min_expected_gain`.
Why: on open-ended chat nothing in the prompt or the answer's shape ranks the cheap answers
(routing.md, rounds four to seven); a judge reading the answer does, and a cheap judge costs a
few percent of the strong model's spend (round nine). Pure functions; the call is pipeline.py's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arbiter.cascade import should_escalate
from arbiter.cascade_gain import expected_gain

__all__ = ["hard_escalation", "judged_escalation"]


def hard_escalation(
    task: str,
    prompt: str,
    content: str | None,
    finish_reason: str | None,
    response_format: Mapping[str, Any] | None,
) -> tuple[bool, str]:
    """The checks that escalate without asking the judge (nothing to grade, or a plain fault)."""
    if not content or finish_reason == "length":
        return True, "no complete answer"
    return should_escalate(task, prompt, content, finish_reason, response_format)


def judged_escalation(line: Sequence[float], threshold: float, score: float) -> tuple[bool, str]:
    """Escalate when the judge's score, through the task's line, says the strong answer's
    expected gain is >= threshold (a low score: a large gain, so the line's slope is < 0)."""
    g = expected_gain(line, score)
    return g >= threshold, f"judge score {score:.2f}: expected gain {g:.2f} vs {threshold:.2f}"
