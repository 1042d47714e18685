"""probe23b: an upstream that reports its own cost (`usage.cost`, OpenRouter's style) dearer than
the call's usage at the registry's prices (a dearer host behind the model, a gateway's fee, a
price rise not adopted yet): the sidecar charges the report (cost_report.py believes it up to
100x), so a reservation held at the registry's prices was short of each call's charge, and a
burst admitted together passed the cap by the sum. Before cost_ratio.py, 40 requests at once
against a key's $0.50 cap, each reported at 1.5x its usage's price, spent $0.70: 5.3 of those
calls past the cap (the promise: at most one request's worst case). Now a believed report
teaches its model's ratio and holds follow it: within one call, on one process (SQLite) and on
two replicas of one PostgreSQL database (each learns from its own first answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import fleet
from tests.probe23b_rig import burst, decided, decided_usd, warm

CAP_USD = 0.5
MARKUP = 1.5
# the upstream's usage (11 prompt, 7 output tokens on oa-1), priced at the registry's prices
USAGE_USD = (PROMPT_TOKENS * PRICES["oa-1"][0] + COMPLETION_TOKENS * PRICES["oa-1"][1]) / 1e6
REPORTED_USD = round(MARKUP * USAGE_USD, 6)  # what the upstream says each call cost: its bill
BURST = 40


@pytest.mark.parametrize(
    ("backend", "replicas"),
    [("sqlite", 1), pytest.param("postgres", 2, marks=pytest.mark.postgres)],
)
def test_a_burst_reported_dearer_than_its_usage_stays_within_one_call(
    tmp_path: Path, backend: str, replicas: int
) -> None:
    caps = [{"scope": "key", "limit_usd": CAP_USD, "window": "total"}]
    with fleet(tmp_path, backend, caps, replicas=replicas) as f:
        key = str(f.first.create_key("t")["key"])
        # max_tokens 7: the whole answer is the output limit, so its usage's price is the hold
        f.up.reset(oa_1=f"cost@{REPORTED_USD}")
        warm(f, key, max_tokens=COMPLETION_TOKENS)
        f.up.script["oa-1"] = f"cost@{REPORTED_USD}:0.5"  # slow: the burst's holds overlap
        outcomes = burst(f, key, BURST, max_tokens=COMPLETION_TOKENS)
        assert set(outcomes) == {"ok", "budget"}, outcomes
        spent = next(v for k, v in f.settled().items() if k.startswith("key:"))[0]
        answered = len(f.up.bills)  # every call the upstream answered, billed as it reported
        billed = answered * REPORTED_USD
        assert spent == pytest.approx(billed, abs=1e-6)
        assert decided_usd(f) == pytest.approx(spent, abs=1e-6)
        # the promise: past the cap by at most one request's worst case (here its reported cost)
        over = (spent - CAP_USD) / REPORTED_USD
        assert over <= 1.0, f"{over:.2f} calls past the cap: {answered} answered, ${spent:.4f}"


def test_a_learnt_markup_does_not_widen_what_a_report_may_claim(tmp_path: Path) -> None:
    """A report is believed up to 100x the call's worst case at the registry's prices
    (cost_report.py); the learnt ratio raises the hold, not that bound: else one believed 90x
    report made a 5,000x one believable (100x a hold 90x dearer)."""
    caps = [{"scope": "tenant", "limit_usd": 10_000.0, "window": "total"}]
    with fleet(tmp_path, "sqlite", caps) as f:
        key = str(f.first.create_key("t")["key"])
        f.up.reset(oa_1=f"cost@{round(90 * USAGE_USD, 6)}")
        warm(f, key, max_tokens=COMPLETION_TOKENS)  # believed: 90x, under the ceiling
        f.up.script["oa-1"] = f"cost@{round(5000 * USAGE_USD, 6)}"
        warm(f, key, max_tokens=COMPLETION_TOKENS)
        costs = sorted(float(d["cost_usd"]) for d in decided(f))
        assert costs == pytest.approx([USAGE_USD, 90 * USAGE_USD]), costs  # the 5,000x: dropped


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_restarted_sidecar_holds_its_first_burst_at_the_learnt_markup(
    tmp_path: Path, backend: str
) -> None:
    """The ratio was learnt per process: a sidecar restarted (a deploy, a crash) held its first
    burst at the registry's prices, and 40 requests at once passed the key's cap by ~7 calls.
    Now it is seeded at start from the store's recent decisions charged a reported cost."""
    caps = [{"scope": "key", "limit_usd": CAP_USD, "window": "total"}]
    with fleet(tmp_path, backend, caps) as f:
        key = str(f.first.create_key("t")["key"])
        f.up.reset(oa_1=f"cost@{REPORTED_USD}")
        warm(f, key, max_tokens=COMPLETION_TOKENS)  # the old process learns 1.5x, and records it
        f.first.stop()
        again = Sidecar(f.first.config_path).start()
        f.sidecars[0] = again
        try:
            f.up.script["oa-1"] = f"cost@{REPORTED_USD}:0.5"  # slow: the burst's holds overlap
            outcomes = burst(f, key, BURST, max_tokens=COMPLETION_TOKENS)
            assert set(outcomes) == {"ok", "budget"}, outcomes
            spent = next(v for k, v in f.settled().items() if k.startswith("key:"))[0]
            assert spent == pytest.approx(len(f.up.bills) * REPORTED_USD, abs=1e-6)
            over = (spent - CAP_USD) / REPORTED_USD
            assert over <= 1.0, f"{over:.2f} calls past the cap: ${spent:.4f}"
        finally:
            again.stop()
