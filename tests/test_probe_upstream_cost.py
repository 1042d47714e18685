"""Outside probes of the upstream's own cost telemetry: a cost header that is not a finite,
non-negative number is never settled against a budget or written as a decision's cost. A
non-finite one reads as NaN, a report for cost_report.vetted to drop with its alert (the registry's
price is used: tests/e2e/test_non_finite_cost_headers_and_anthropic_streams.py); one that is not
a number at all is no report."""

from __future__ import annotations

import math

import httpx
import pytest

from arbiter.upstream.http import reported_cost


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_a_cost_header_that_is_not_finite_is_a_report_to_drop(value: str) -> None:
    for name in ("x-upstream-cost-usd", "x-cost-usd", "x-openrouter-cost"):
        got = reported_cost(None, httpx.Headers({name: value}))
        assert got is not None and math.isnan(got), (name, value, got)
    assert reported_cost(None, httpx.Headers({"x-cost-usd": "cheap"})) is None


def test_a_good_cost_header_is_read_and_a_negative_one_is_zero() -> None:
    assert reported_cost(None, httpx.Headers({"x-cost-usd": "0.0125"})) == 0.0125
    assert reported_cost(None, httpx.Headers({"x-cost-usd": "-3"})) == 0.0
    # the body's usage.cost wins over a header, and a bad header does not hide a later good one
    assert reported_cost({"usage": {"cost": 0.5}}, httpx.Headers({"x-cost-usd": "nan"})) == 0.5
    got = reported_cost(None, httpx.Headers({"x-upstream-cost-usd": "nan", "x-cost-usd": "0.25"}))
    assert got is not None and math.isfinite(got) and got == 0.25
