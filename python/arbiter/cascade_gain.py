"""A cascade's escalations on one scale across tasks: the expected gain of the strong answer.

Each task reads its own signal from the cheap answer (the math verifier's score for math, the
answer's length for the rest) and `routing.cascade_expected_gain` maps it to the expected gain of
asking the strong model, `a + b x signal`, in one unit for every task (fitted offline: judge
points in bench/routing_round6.py). One threshold, `routing.cascade_min_expected_gain`, then
ranks a math escalation against a writing one, so a single sweep knob moves every task's share
in step instead of one task's cut-off (mixed traffic: MT Bench's 8 categories). The hard checks
(graders, hedging, repetition, a missing or cut-off answer) still escalate on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from arbiter.cascade import Escalate, Verifier, should_escalate
from arbiter.types import estimate_tokens


def gain_signal(task: str, prompt: str, content: str, verifier: Verifier | None) -> float:
    """The task's own signal: the verifier's score for math (when one is loaded), else
    log(1 + the answer's tokens)."""
    if task == "math" and verifier is not None:
        return verifier.score(prompt, content)
    return math.log1p(estimate_tokens(content))


def expected_gain(line: Sequence[float], signal: float) -> float:
    return float(line[0]) + float(line[1]) * signal


def gain_escalation(
    lines: Mapping[str, Sequence[float]], threshold: float, verifier: Verifier | None
) -> Escalate:
    """Escalate when a hard check fails or the line's expected gain >= threshold (lower
    thresholds escalate more). Tasks without a line keep only the hard checks."""

    def decide(
        task: str,
        prompt: str,
        content: str | None,
        finish_reason: str | None,
        response_format: Mapping[str, Any] | None,
    ) -> tuple[bool, str]:
        if not content or finish_reason == "length":
            return True, "no complete answer"
        if task != "math" or verifier is None:  # the verifier's features include these checks
            hard, why = should_escalate(task, prompt, content, finish_reason, response_format)
            if hard:
                return True, why
        line = lines.get(task)
        if line is None:
            return False, "looks fine"
        g = expected_gain(line, gain_signal(task, prompt, content, verifier))
        return g >= threshold, f"expected gain {g:.2f} vs {threshold:.2f}"

    return decide
