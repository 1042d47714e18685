"""How much more than its usage at the registry's prices each model's upstream says a call cost.

An upstream that reports its own cost (`usage.cost`: OpenRouter, a LiteLLM or Portkey gateway)
is charged that figure (cost_report.py believes it up to 100x the usage's price), while a
reservation holds the call's worst case at the registry's prices. A provider billing more than
the registry says (OpenRouter routing a model to a dearer host, a gateway's fee, a price rise
the drift detector has not adopted yet) made each admitted call cost more than its hold, and a
burst admitted together passed its cap by the sum: a key's $0.50 cap spent to $0.70 by 40
requests at once whose upstream reported 1.5x their usage's price (probe23b). So every answered
call whose reported cost was believed teaches its model's ratio (the report over its usage at
the prices it was charged at, kept when above 1), and the worst case is held at the second
largest ratio of the model's last 64 such calls (per process, seeded at start from the store's
recent decisions charged a reported cost: `seed`, store/reported_costs.py): a ratio
must be seen twice before it holds, so one believed outlier (a 90x report among 1x ones, itself
within cost_report's 100x) does not hold the model at 90x for 64 calls. A model's first report is
its only one and holds alone (a fresh process's first answer teaches the burst behind it); after
that, a dearer upstream holds from its second dearer answer, a burst between the two held at the
earlier ratio. Once the detector adopts a price factor, calls priced at it teach ~1 and the
earlier ratios age out: until then a hold is both (more 429s near a cap, never an overshoot).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable

from arbiter.config import ModelSettings
from arbiter.cost_report import CEILING
from arbiter.types import Usage

WINDOW = 64  # calls per model: a price change the registry then adopts ages out


class CostRatios:
    """Per model, the second largest ratio (1 .. CEILING) of the last `WINDOW` believed reports
    to their usage's price (the only one while there is one). A ratio, not prompt_ratio.py's
    line: a fee or a dearer host scales the whole bill."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._held: dict[str, float] = {}

    def factor(self, model: str) -> float:
        """The ratio `model`'s calls are reserved at (1.0 until reported costs say more)."""
        return self._held.get(model, 1.0)

    def observe(self, model: str, priced: float, reported: float) -> None:
        if not priced > 0 or not reported > 0:
            return
        ratio = max(1.0, min(reported / priced, CEILING))
        seen = self._seen.get(model)
        if seen is None:
            seen = self._seen[model] = deque(maxlen=WINDOW)
        seen.append(ratio)
        # seen twice: the second largest (a 64-long window: ~2 us a call)
        self._held[model] = heapq.nlargest(2, seen)[-1]


def cost_ratios() -> CostRatios:
    """Per model, the ratio its calls are reserved at (1.0 until a reported cost says more)."""
    return CostRatios()


def seed(
    ratios: CostRatios,
    rows: Iterable[tuple[str, float, int, int, float | None]],
    model_of: Callable[[str], ModelSettings | None],
) -> int:
    """Teach `ratios` the stored decisions' reports, oldest first (store/reported_costs.py):
    each (model, cost, prompt tokens, output tokens, its usage's price) a call charged its
    upstream's reported cost. A restarted sidecar's first burst then holds at the ratio its
    predecessor learnt (probe23b's cold process held it at the registry's prices). The usage's
    price is the decision's own (prompt-cache parts at their prices, as the live ratio divides
    by); a decision written before it was kept prices its totals, cache parts at the input
    price (a ratio read low there is no worse than none). The number of models taught."""
    taught: set[str] = set()
    for model, cost, prompt, output, priced in rows:
        m = model_of(model)
        if m is None:  # a model no longer configured
            continue
        usage_price = priced if priced is not None and priced > 0 else m.cost_usd(prompt, output)
        ratios.observe(model, usage_price, cost)
        taught.add(model)
    return len(taught)


def observe(ratios: CostRatios, model: str, m: ModelSettings, usage: Usage, billed: float) -> None:
    """One answered call of `model` (priced at `m`), charged `billed`: teach its ratio when that
    is the upstream's own figure (a report not believed was priced from the usage instead)."""
    reported = usage.reported_cost_usd
    if reported is None or billed != reported or usage.counts_dropped or usage.one_sided:
        return
    priced = m.usage_cost(usage)
    ratios.observe(model, priced, reported)
