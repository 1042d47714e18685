"""A cascade's escalations on one scale across tasks: the expected gain of the strong answer.

Each task reads its own signal from the cheap answer (the math verifier's score for math, the
answer's length for the rest) and `routing.cascade_expected_gain` maps it to the expected gain of
asking the strong model, `a + b x signal`, in one unit for every task (fitted offline: judge
points in bench/routing_round6.py). One threshold, `routing.cascade_min_expected_gain`, then
ranks a math escalation against a writing one, so a single sweep knob moves every task's share
in step instead of one task's cut-off (mixed traffic: MT Bench's 8 categories). The hard checks
(graders, hedging, repetition, a missing or cut-off answer) still escalate on their own.
`routing.cascade_prompt_gain` puts the prompt's difficulty on the same scale before any call: a
request whose prompt line already reaches the threshold skips the cheap try (`skips_first_model`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arbiter.cascade import (
    Escalate,
    Verifier,
    min_answer_rule,
    should_escalate,
    verified_escalation,
)
from arbiter.cascade_cost import priced_escalation
from arbiter.types import estimate_tokens

if TYPE_CHECKING:
    from arbiter.config import RoutingSettings


def gain_signal(task: str, prompt: str, content: str, verifier: Verifier | None) -> float:
    """The task's own signal: the verifier's score for math (when one is loaded), else
    log(1 + the answer's tokens)."""
    if task == "math" and verifier is not None:
        return verifier.score(prompt, content)
    return math.log1p(estimate_tokens(content))


def expected_gain(line: Sequence[float], signal: float) -> float:
    return float(line[0]) + float(line[1]) * signal


def skips_first_model(
    lines: Mapping[str, Sequence[float]], threshold: float, task: str, easiness: float | None
) -> bool:
    """The prompt alone (its difficulty, 1 - easiness) says the strong answer's expected gain
    is >= threshold: ask the routed choice straight away, no cheap try to pay for. Knowledge
    questions are where the difficulty score ranks the gap and a cheap answer's length does not
    (bench/results/routing.md, round seven)."""
    line = lines.get(task)
    return (
        line is not None and easiness is not None and expected_gain(line, 1 - easiness) >= threshold
    )


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


def answer_rule(
    r: RoutingSettings, task: str, verifier: Verifier | None, strong_cost_usd: float = 0.0
) -> Escalate:
    """The check the sidecar's cascade puts a first answer of `task` through: the expected-gain
    line when the task has one (one scale across tasks), else the math verifier for math when
    one is loaded (its score weighed per dollar of `strong_cost_usd`, the escalation target's
    predicted cost, under `routing.cascade_cost_exponent`), else the task's answer-length
    cut-off (0 = the hard checks alone)."""
    if task in r.cascade_expected_gain:
        return gain_escalation(r.cascade_expected_gain, r.cascade_min_expected_gain, verifier)
    if task == "math" and verifier is not None:
        if r.cascade_cost_exponent > 0:
            return priced_escalation(
                verifier, r.cascade_math_verifier, strong_cost_usd,
                r.cascade_cost_reference_usd, r.cascade_cost_exponent,
            )  # fmt: skip
        return verified_escalation(verifier, r.cascade_math_verifier)
    return min_answer_rule(r.cascade_min_answer_tokens.get(task, 0))
