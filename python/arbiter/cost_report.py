"""Whether an upstream's own cost figure (`usage.cost`, a cost header) is believed for one call.

The only bound was a fixed $10,000 a call (upstream/http.py MAX_CALL_COST_USD): a report of
$9,000 for a call that could cost a cent at the model's prices became the request's spend (the
tenant's cap spent by one absurd number) and taught the price-drift detector. A report is now
judged against what the call could cost at the model's prices: believed up to CEILING times the
usage it reported at those prices, or, above that, CEILING times the call's worst case (its
prompt and every choice at the output limit); past both it counts as not reported (the call is
priced from its usage, as for an upstream that sends no cost) and is logged. A real expensive
call (a long context on a dear model) is near its usage's price and stays believed; a dearer
provider price than the registry's (a drift the alerts report) is far under CEILING times it.
A model priced 0 with no usage gives nothing to judge by: its report keeps only the fixed bound.

The low side too (probe18m): a report of $0 (or 1e-12) for a call whose usage priced at the
model's prices is $0.075 became the request's spend, so the tenant's cap never moved while the
provider's invoice did, and no alert said so (the price detector skips a zero). A report under
1/CEILING of the usage's price (a prompt-cache read, the cheapest discount priced apart, is ~1/10
and is in the usage's price already; OpenRouter's BYOK fee ~1/20) and a report of 0 for a model
whose prices are not 0 count as not reported: the call is priced from its usage (none: its worst
case). A free model is priced 0 in the registry, and its reports of 0 stand.

A report that is no finite number (`"cost": NaN`, `Infinity`, `1e999`: lenient_json reads the
answer) says nothing: it is dropped the same way, and the answer stands.

Each report dropped is logged and handed to `on_dropped` (the sidecar raises an operator alert,
`cost_report_dropped`, at most one per model and side each ten minutes: billing_alerts.py).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Final

from arbiter.config import ModelSettings
from arbiter.types import Usage

log = logging.getLogger(__name__)

CEILING: Final = 100.0  # times what the call could cost at the model's prices


def vetted(
    model: ModelSettings,
    usage: Usage | None,
    worst: Callable[[], float] | None,
    on_dropped: Callable[[str, float, float], None] | None = None,
) -> Usage | None:
    """`usage`, less its reported cost when that is past the ceiling or under the floor (module
    docstring). `worst`: the call's worst case in USD, computed only when the usage's price is
    not enough to believe the report (it may tokenize the prompt). `on_dropped(model, reported,
    usage's price)` is told of a report dropped."""
    if usage is None or usage.reported_cost_usd is None:
        return usage
    reported = usage.reported_cost_usd
    priced = model.usage_cost(usage)
    if not math.isfinite(reported):  # `NaN` / `Infinity` in the answer: no figure at all
        return _dropped(model, usage, reported, priced, None, "non-finite", on_dropped)
    if priced > 0 and reported < priced / CEILING:
        return _dropped(model, usage, reported, priced, None, "under", on_dropped)
    if reported <= 0 and _priced(model):
        return _dropped(model, usage, reported, priced, None, "under", on_dropped)
    if reported <= CEILING * priced:
        return usage
    bound = worst() if worst is not None else 0.0
    if reported <= CEILING * bound or (priced == 0.0 and bound == 0.0):
        return usage
    return _dropped(model, usage, reported, priced, bound, "past", on_dropped)


def _priced(model: ModelSettings) -> bool:
    """Whether any call of `model` costs something at its prices (a free model's do not)."""
    return model.price_in_per_mtok > 0 or model.price_out_per_mtok > 0


def _dropped(
    model: ModelSettings,
    usage: Usage,
    reported: float,
    priced: float,
    bound: float | None,
    side: str,
    on_dropped: Callable[[str, float, float], None] | None,
) -> Usage:
    times = {
        "past": f"past {CEILING:g} times",
        "under": f"under 1/{CEILING:g} of",
        "non-finite": "that is no finite number, whatever",
    }[side]
    log.warning(
        "an upstream reported a cost %s what the call could cost at the model's prices: "
        "counted as not reported",
        times,
        extra={"model": model.name, "reported_cost_usd": reported,
               "usage_cost_usd": priced, "worst_cost_usd": bound},
    )  # fmt: skip
    if on_dropped is not None:
        on_dropped(model.name, reported, priced)
    return dataclasses.replace(usage, reported_cost_usd=None)
