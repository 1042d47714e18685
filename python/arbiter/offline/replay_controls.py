"""The controls a `--sweep` report sets next to its own figures, measured in the same run on the
same table (the house rule: no quality figure without them).

- `shuffled_labels`: the same sweep (same settings, knobs, difficulty scores, cascade) on the
  table with each row's quality labels moved to another row (`outcome_table.shuffled_labels`).
  A gain that survives it is not quality prediction: it comes from cost (which prompts are cheap
  where) or from luck.
- `random`: a router with no information. Two models: each prompt goes to the baseline with
  probability c, c = 0.1 .. 0.9 (RouteLLM's 11-point random sweep with both ends), read with the
  same metrics, mean of RANDOM_DRAWS draws; its expected call-axis APGR is 0.5. More models: a
  random mix along the single-model hull (`aiq_random_hull`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

RANDOM_DRAWS = 10
RANDOM_SHARES: tuple[float, ...] = tuple(k / 10 for k in range(1, 10))
# what each control reports: the headline figures of both axes (AIQ alone on more than 2 models)
CONTROL_KEYS = ("apgr", "cpt50", "cpt80", "apgr_cost", "cpt50_cost_pct", "cpt80_cost_pct", "aiq")


def headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The CONTROL_KEYS of a sweep's metrics (null where the table cannot define one)."""
    return {k: metrics.get(k) for k in CONTROL_KEYS}


def random_router(
    n_rows: int,
    strong_cost: np.ndarray,
    weak_cost: np.ndarray,
    strong_quality: np.ndarray,
    weak_quality: np.ndarray,
    metrics: Callable[[list[dict[str, Any]]], Mapping[str, Any]],
    pgr: Callable[[float], float | None],
) -> dict[str, Any]:
    """A two-model random router's figures, mean over RANDOM_DRAWS seeded draws. `metrics` turns
    a sweep's points into the report's metrics (`replay.sweep_metrics` on this table), `pgr` a
    mean quality into its PGR."""
    draws = []
    for seed in range(RANDOM_DRAWS):
        rng = np.random.default_rng(seed)
        points = []
        for share in RANDOM_SHARES:
            strong = rng.random(n_rows) < share
            quality = float(np.where(strong, strong_quality, weak_quality).mean())
            points.append({
                "knob": share,
                "strong_pct": round(100.0 * float(strong.mean()), 4),
                "cost_usd": round(float(np.where(strong, strong_cost, weak_cost).sum()), 6),
                "quality": round(quality, 6),
                "escalations_pct": 0.0,
                "pgr": pgr(quality),
            })  # fmt: skip
        draws.append(headline(metrics(points)))
    out = {k: _mean([d[k] for d in draws]) for k in CONTROL_KEYS}
    return out | {"draws": RANDOM_DRAWS}


def _mean(values: list[Any]) -> float | None:
    """The mean of a figure over draws; null when any draw leaves it undefined (a CPT the
    random curve never reaches, say), not a mean over the lucky draws only."""
    if any(v is None for v in values):
        return None
    return round(float(np.mean(values)), 4)
