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
from arbiter.cascade_cost import DEFAULT_REFERENCE_USD
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


def judged_escalation(
    line: Sequence[float],
    threshold: float,
    score: float,
    strong_cost_usd: float = 0.0,
    exponent: float = 0.0,
    reference_usd: float = DEFAULT_REFERENCE_USD,
) -> tuple[bool, str]:
    """Escalate when the judge's score, through the task's line, says the strong answer's
    expected gain is >= threshold (a low score: a large gain, so the line's slope is < 0).
    With `exponent` > 0 the gain is weighed per dollar of the fix, x (reference_usd / the
    escalation target's predicted cost) ** exponent (`routing.cascade_judge_cost_exponent`): at
    equal grades the cheaper escalation goes first (an open-ended answer's gain grows with the
    strong model's length, and so does its price: routing.md, rounds seven and nine)."""
    g = expected_gain(line, score)
    if exponent > 0 and strong_cost_usd > 0:
        g *= (reference_usd / strong_cost_usd) ** exponent
    return g >= threshold, f"judge score {score:.2f}: expected gain {g:.2f} vs {threshold:.2f}"
