"""Which model a replay measured against, and why, said in its report.

The default baseline is the most expensive model (`outcome_table.default_baseline`, as README
and `--help` document): what a tenant pays without routing. On a pool whose prices do not follow
quality (random prices, an old model still priced high) that can be a weaker model than another
in the pool, and every figure measured against it (quality target, savings, PGR) then reads
against the weaker one. The report names the rule that chose the baseline and, when another
model scores higher on the table, says so and how to route against it instead.
"""

from __future__ import annotations

from arbiter.offline.outcome_table import Table

NAMED = "named"  # --baseline, or routing.baseline in a --routing-config
MOST_EXPENSIVE = "most_expensive"
BEST_AMONG_EQUALLY_PRICED = "best_among_equally_priced"


def chosen_by(table: Table, baseline: str, named: bool) -> str:
    """The rule that made `baseline` the replay's baseline: `named` when a person named it, even
    where the default would have picked the same model (what they asked for is what they get)."""
    if named:
        return NAMED
    cost = table.model_cost(baseline)
    tied = [m.id for m in table.models if table.model_cost(m.id) == cost]
    return BEST_AMONG_EQUALLY_PRICED if len(tied) > 1 else MOST_EXPENSIVE


_SAID = {
    NAMED: "was named as the baseline",
    MOST_EXPENSIVE: "is the baseline as the most expensive model (the default)",
    BEST_AMONG_EQUALLY_PRICED: "is the baseline as the best of the most expensive models (the "
    "default)",
}


def stronger_note(table: Table, baseline: str, rule: str) -> str | None:
    """A note when another model has a higher mean quality on the table than the baseline."""
    if not table.rows:
        return None
    quality = {m.id: table.model_quality(m.id) for m in table.models}
    best = max(quality, key=lambda m: quality[m])
    if quality[best] <= quality[baseline]:
        return None
    return (
        f"baseline_model: {baseline} {_SAID[rule]}, but {best} scores higher on this table "
        f"(mean quality {quality[best]:.4f} against {quality[baseline]:.4f}); every figure here "
        f"(quality target, savings, PGR) is measured against {baseline}: pass --baseline "
        f"{best} (or set routing.baseline) to measure against the best model"
    )
