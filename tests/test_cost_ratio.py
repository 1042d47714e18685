"""cost_ratio.py: which answered calls teach a model how much dearer than its usage's price its
upstream reports calls, and the worst case a reservation holds at that ratio."""

from __future__ import annotations

import pytest

from arbiter import cost_ratio
from arbiter.config import ModelSettings
from arbiter.types import Usage
from arbiter.worst_case import CallWorst

M = ModelSettings("m", "u", price_in_per_mtok=1000.0, price_out_per_mtok=2000.0)
PRICED = M.cost_usd(100, 50)  # $0.2


def test_only_a_believed_report_of_whole_counts_teaches() -> None:
    ratios = cost_ratio.cost_ratios()
    dear = Usage(100, 50, reported_cost_usd=PRICED * 1.5)
    cost_ratio.observe(ratios, "m", M, dear, billed=PRICED)  # not believed: priced from usage
    cost_ratio.observe(ratios, "m", M, Usage(100, 50, PRICED * 3, prompt_missing=True), PRICED * 3)
    cost_ratio.observe(ratios, "m", M, Usage(100, 50, PRICED * 3, counts_dropped=True), PRICED * 3)
    cost_ratio.observe(ratios, "m", M, Usage(100, 50), PRICED)  # no report
    assert ratios.factor("m") == 1.0
    cheap = Usage(100, 50, reported_cost_usd=PRICED / 5)  # a cache read's discount: stays 1
    cost_ratio.observe(ratios, "m", M, cheap, cheap.reported_cost_usd or 0.0)
    assert ratios.factor("m") == 1.0
    cost_ratio.observe(ratios, "m", M, dear, PRICED * 1.5)
    assert ratios.factor("m") == 1.0  # seen once after a 1x one: not held yet
    cost_ratio.observe(ratios, "m", M, dear, PRICED * 1.5)
    assert ratios.factor("m") == pytest.approx(1.5)
    huge = Usage(100, 50, reported_cost_usd=PRICED * 1000)  # past cost_report's ceiling: capped
    for _ in range(2):
        cost_ratio.observe(ratios, "m", M, huge, PRICED * 1000)
    assert ratios.factor("m") == pytest.approx(100.0)


def test_one_outlier_does_not_hold_a_model_at_it() -> None:
    """One believed 90x report among 1x ones held the model at 90x for its next 64 calls (the
    window's max): a ratio now holds once seen twice, the first report of a model alone."""
    ratios = cost_ratio.cost_ratios()
    ratios.observe("m", 1.0, 90.0)  # a model's first report: all there is to go by
    assert ratios.factor("m") == 90.0
    ratios.observe("m", 1.0, 1.0)
    assert ratios.factor("m") == 1.0  # one 90x, not seen again
    for _ in range(cost_ratio.WINDOW):  # the first 90x ages out
        ratios.observe("m", 1.0, 1.2)
    ratios.observe("m", 1.0, 90.0)
    assert ratios.factor("m") == pytest.approx(1.2)
    ratios.observe("m", 1.0, 90.0)  # seen twice: held
    assert ratios.factor("m") == 90.0
    for _ in range(cost_ratio.WINDOW - 1):  # both age out of the window
        ratios.observe("m", 1.0, 1.0)
    assert ratios.factor("m") == 1.0


def test_the_worst_case_is_held_at_the_ratio() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    plain = CallWorst(lambda _: M, body, 50, None)("m")
    marked = CallWorst(lambda _: M, body, 50, None, markup=lambda _: 1.5)("m")
    assert marked == pytest.approx(plain * 1.5)
    # a report is judged by the worst case at the registry's prices, not the learnt one
    assert CallWorst(lambda _: M, body, 50, None, markup=lambda _: 1.5).unmarked("m") == plain
