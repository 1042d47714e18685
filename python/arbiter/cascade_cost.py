"""The math cascade's escalations per dollar: doubt about the cheap answer over the price of a fix.

With `routing.cascade_cost_exponent` = alpha > 0, a math answer escalates when

    verifier score x (cascade_cost_reference_usd / predicted strong cost) ** alpha >= threshold

(capped at 1, so `routing.cascade_math_verifier` stays a threshold in [0, 1]). The predicted
strong cost is the one the router already priced the escalation target at for this request:
prompt tokens x input price + the answer-length model's expected tokens x output price
(`output_length.py`; warm-started from `routing.priors_file`'s `output_length` fits). At equal
doubt the cheaper escalation goes first, which is what the dollar axis rewards; alpha 0 (the
default) is the verifier alone. An escalation priced at the reference keeps its score; one priced
at twice the reference needs 2 ** alpha times the doubt. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math

from arbiter.cascade import Escalate, Verifier, verified_escalation

DEFAULT_REFERENCE_USD = 0.004  # about one GPT-4-class answer to a GSM8K problem (~100 tokens)


def per_dollar(score: float, strong_cost_usd: float, reference_usd: float, alpha: float) -> float:
    """The verifier's score weighed by how cheap the fix is, in [0, 1]. A cost that is unknown
    or not positive (a free or unpriced model) leaves the score as it is."""
    if alpha <= 0 or not strong_cost_usd > 0 or not math.isfinite(strong_cost_usd):
        return score
    return min(1.0, score * math.pow(reference_usd / strong_cost_usd, alpha))


def priced_escalation(
    verifier: Verifier,
    threshold: float,
    strong_cost_usd: float,
    reference_usd: float,
    alpha: float,
) -> Escalate:
    """`cascade.verified_escalation` with the score weighed by `per_dollar`: math answers
    escalate when the weighed score >= threshold; other tasks use `should_escalate`."""

    def weigh(raw: float) -> tuple[float, str]:
        s = per_dollar(raw, strong_cost_usd, reference_usd, alpha)
        return s, f"per dollar {s:.2f} (fix ${strong_cost_usd:.4f})"

    return verified_escalation(verifier, threshold, weigh)
