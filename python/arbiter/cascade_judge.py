"""The judge in the cascade: the LLM judge grades the cheap model's answer inside the request.

For a task with a `routing.cascade_judge_gain` line, the first answer goes through the hard
checks (no complete answer, refusal, hedging, repetition, graders: `cascade.should_escalate`);
if it passes them, `routing.cascade_judge_model` grades it with the judge's own prompt
(judge.py: 1-10, read as (s - 1) / 9) and the expected gain of escalating is a + b x that
score, on the cascade's one scale (cascade_gain.py), against `cascade_min_expected_gain`.
Why: on open-ended chat nothing in the prompt or the answer's shape ranks the cheap answers
(routing.md, rounds four to seven); a judge reading the answer does, and a cheap judge costs a
few percent of the strong model's spend (round nine). Pure functions; the call is
cascade_steps.py's.

`cascade_judge_model = "first"` (SELF_JUDGE) is the self-judge: the model that gave the first
answer grades it. It is the form a two-model pool can use (MT Bench's GPT-4 + Mixtral holds no
third, cheap judge; GPT-4 as the judge costs about a third of the all-GPT-4 spend, round nine),
and it names no model, so one config serves every pool whose first model differs. Self-judging
is biased (a model rates its own answers higher and shares their blind spots): `arbiter replay`
models it with a larger judge error (SELF_JUDGE_ERROR; routing.md, sixteenth session).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arbiter.cascade import should_escalate
from arbiter.cascade_cost import DEFAULT_REFERENCE_USD
from arbiter.cascade_gain import expected_gain

__all__ = ["SELF_JUDGE", "SELF_JUDGE_ERROR", "hard_escalation", "judge_for", "judged_escalation"]

SELF_JUDGE = "first"  # routing.cascade_judge_model: the first answer's own model grades it
# the replay's default flip error for a self-judge. Not measured (no judge is called offline):
# a documented assumption. GPT-4 judging others disagrees with experts 15% of the time
# (as_sidecar.JUDGE_ERROR); round nine read 0.3 as the likely figure for a separate gpt-3.5-class
# judge; a model of that class grading its own answers is worse again (it rates them higher and
# misses the errors it made), so 0.45. bench/routing_selfjudge.py sweeps 0.15 to 0.6.
SELF_JUDGE_ERROR = 0.45


def judge_for(configured: str, first: str) -> str:
    """The model that grades `first`'s answer: `first` itself under the self-judge, else the
    configured judge."""
    return first if configured == SELF_JUDGE else configured


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
