"""The math cascade's escalation value: expected gain of the strong answer per relative cost.

A verifier that only says P(the cheap answer is wrong) escalates the hard problems first, and
those are the ones the strong model answers at length: good on the call axis, dear on the dollar
axis. The value head adds what the cheap answer also tells (fitted on GSM8K's train rows):
- P(the strong model gets it right), a second logistic head over the same features, so the
  expected gain is P(strong right) - P(cheap right) (the two answers treated as independent);
- the strong call's relative cost: its answer length predicted from the prompt's and the cheap
  answer's lengths (both reflect how many steps the problem takes), plus the prompt weighed by
  the input/output price ratio of the strong model it was fitted for;
and escalates by gain / relative cost ** alpha (alpha 1: the knapsack order), squashed into (0, 1)
so `routing.cascade_math_verifier` stays a threshold in [0, 1]. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class ValueHead:
    strong_weights: tuple[float, ...]  # over the verifier's standardized features
    strong_bias: float
    length: tuple[float, float, float]  # log1p(strong answer chars) ~ 1, log_prompt, log_answer
    input_weight: float  # prompt chars weigh this much against answer chars (price ratio)
    cost_ref: float  # the mean relative-cost numerator on the fitting rows (-> mean 1)
    alpha: float
    squash: tuple[float, float]  # (scale, centre): score = sigmoid(scale * (value - centre))

    def p_strong_right(self, z: Sequence[float]) -> float:
        """P(the strong answer is right) from standardized features `z`."""
        return _sigmoid(self.strong_bias + sum(w * v for w, v in zip(self.strong_weights, z,
                                                                     strict=True)))  # fmt: skip

    def relative_cost(self, prompt_chars: int, answer_chars: int) -> float:
        """The strong call's expected cost / the mean one on the fitting rows."""
        a, b, c = self.length
        strong_chars = math.exp(a + b * math.log1p(prompt_chars) + c * math.log1p(answer_chars))
        return max(1e-3, (self.input_weight * prompt_chars + strong_chars) / self.cost_ref)

    def score(
        self, p_wrong: float, z: Sequence[float], prompt_chars: int, answer_chars: int
    ) -> float:
        """The escalation score in (0, 1) from P(cheap wrong), standardized features, lengths."""
        gain = self.p_strong_right(z) - (1.0 - p_wrong)
        value = gain / self.relative_cost(prompt_chars, answer_chars) ** self.alpha
        scale, centre = self.squash
        return _sigmoid(scale * (value - centre))

    def to_dict(self) -> dict[str, Any]:
        return {"strong_weights": list(self.strong_weights), "strong_bias": self.strong_bias,
                "length": list(self.length), "input_weight": self.input_weight,
                "cost_ref": self.cost_ref, "alpha": self.alpha,
                "squash": list(self.squash)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], n_features: int) -> ValueHead:
        weights = tuple(map(float, d["strong_weights"]))
        length = tuple(map(float, d["length"]))
        squash = tuple(map(float, d["squash"]))
        if len(weights) != n_features or len(length) != 3 or len(squash) != 2:
            raise ValueError("value head shapes do not match the verifier")
        if float(d["cost_ref"]) <= 0:
            raise ValueError("value head cost_ref must be positive")
        return cls(weights, float(d["strong_bias"]), (length[0], length[1], length[2]),
                   float(d["input_weight"]), float(d["cost_ref"]), float(d["alpha"]),
                   (squash[0], squash[1]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CostHead:
    """v4's mild cost term: escalate by P(cheap wrong) / relative strong cost ** alpha.

    The strong call's cost (fitted in dollars for the strong model of the fitting table, so the
    input/output price ratio is in it) is log-linear in the prompt's and the cheap answer's log
    lengths (both say how many steps the problem takes); divided by its mean on the fitting rows.
    A small alpha (chosen by cross-validation on GSM8K's train rows) keeps P(wrong) in charge and
    only breaks near-ties toward the escalations that cost less, which is what the dollar axis
    rewards. The score stays in [0, 1] (capped), so it is still a threshold.
    """

    log_cost: tuple[float, float, float]  # log(strong cost) ~ 1, log1p(prompt), log1p(answer)
    cost_ref: float  # the mean fitted cost on the fitting rows (-> relative cost 1)
    alpha: float

    def relative_cost(self, log_prompt_len: float, log_answer_len: float) -> float:
        a, b, c = self.log_cost
        return max(1e-3, math.exp(a + b * log_prompt_len + c * log_answer_len) / self.cost_ref)

    def score(self, p_wrong: float, log_prompt_len: float, log_answer_len: float) -> float:
        rel = self.relative_cost(log_prompt_len, log_answer_len)
        return min(1.0, p_wrong / math.pow(rel, self.alpha))

    def to_dict(self) -> dict[str, Any]:
        return {"log_cost": list(self.log_cost), "cost_ref": self.cost_ref, "alpha": self.alpha}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostHead:
        coef = tuple(map(float, d["log_cost"]))
        ref, alpha = float(d["cost_ref"]), float(d["alpha"])
        if len(coef) != 3 or not ref > 0 or not 0.0 <= alpha <= 4.0:
            raise ValueError("cost head: log_cost needs 3 numbers, cost_ref > 0, alpha in [0, 4]")
        return cls((coef[0], coef[1], coef[2]), ref, alpha)
