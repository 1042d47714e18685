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
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Final

from arbiter.config import ModelSettings
from arbiter.types import Usage

log = logging.getLogger(__name__)

CEILING: Final = 100.0  # times what the call could cost at the model's prices


def vetted(
    model: ModelSettings, usage: Usage | None, worst: Callable[[], float] | None
) -> Usage | None:
    """`usage`, less its reported cost when that is past the ceiling (module docstring).
    `worst`: the call's worst case in USD, computed only when the usage's price is not enough
    to believe the report (it may tokenize the prompt)."""
    if usage is None or usage.reported_cost_usd is None:
        return usage
    reported = usage.reported_cost_usd
    priced = model.cost_usd(
        usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens,
        usage.cache_write_tokens,
    )  # fmt: skip
    if reported <= CEILING * priced:
        return usage
    bound = worst() if worst is not None else 0.0
    if reported <= CEILING * bound or (priced == 0.0 and bound == 0.0):
        return usage
    log.warning(
        "an upstream reported a cost past %g times what the call could cost at the model's "
        "prices: counted as not reported",
        CEILING,
        extra={"model": model.name, "reported_cost_usd": reported,
               "usage_cost_usd": priced, "worst_cost_usd": bound},
    )  # fmt: skip
    return dataclasses.replace(usage, reported_cost_usd=None)
