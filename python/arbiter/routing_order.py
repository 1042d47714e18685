"""The two orders a routing decision uses over its eligible models, in Python for the
per-model reference (`Router.decide_reference`) and the latency-SLO path; the native pass
(`rust/core/src/cost_order.rs`) computes the same ones.

- The visiting order: the baseline first (the bar is a fraction of its score), then cheapest
  first by the cost the rule compares (ties by position). The Thompson draws are taken in this
  order, so a pass can stop as soon as the rest cannot change the pick or the fallbacks.
- The failover order: the rule's ranking, whose first is its pick. Under a cost weight by value
  (score minus the weighted cost; ties: lower cost, then position); else the models that clear
  the bar cheapest first (ties: higher score, then position), then the others by score (ties:
  lower cost, then position). So a fallback is the model the rule would pick next were the
  ones before it down: the cheapest alternative that is still good enough.
"""

from __future__ import annotations

from collections.abc import Sequence


def visit_order(cost: Sequence[float], baseline: int) -> list[int]:
    """Positions in the order their draws are taken: `baseline` (-1: none) first, then by
    (cost, position)."""
    rest = sorted((i for i in range(len(cost)) if i != baseline), key=lambda i: (cost[i], i))
    return [baseline, *rest] if baseline >= 0 else rest


def failover_order(
    scores: Sequence[float], cost: Sequence[float], target: float, cost_weight: float
) -> list[int]:
    """Every position in the rule's ranking (`cost`: what the rule compared; `cost_weight`:
    the rule's, per USD)."""
    n = len(scores)
    if cost_weight > 0:
        return sorted(range(n), key=lambda i: (-(scores[i] - cost_weight * cost[i]), cost[i], i))
    return sorted(
        range(n),
        key=lambda i: (
            (0, cost[i], -scores[i], i) if scores[i] >= target else (1, -scores[i], cost[i], i)
        ),
    )
