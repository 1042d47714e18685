"""`arbiter_alerts_total` counts the alerts this process raised, as every /metrics counter is the
scraped process's own; since `usage_dropped` and `cost_report_dropped` are stored once per
deployment each 10 minutes (AlertRecord.once_every_s), two workers raising one each count 1 each
while the store keeps 1. The family's HELP and README's row say so, and name `/arbiter/alerts`
(the store's list: what the deployment kept) as the count to sum over a deployment."""

from __future__ import annotations

from pathlib import Path

from arbiter.alerts import AlertRules
from arbiter.billing_alerts import BillingAlerts
from arbiter.metrics import Gauges, Metrics
from arbiter.records import AlertRecord, Record

README = Path(__file__).resolve().parents[1] / "README.md"


def _worker() -> tuple[Metrics, list[AlertRecord]]:
    metrics, raised = Metrics(), []
    submitted: list[Record] = []
    billing = BillingAlerts(AlertRules(submitted.append), metrics, lambda _m: None)
    billing.usage_dropped("m", 0.001, 0.1, "both")
    for r in submitted:
        if isinstance(r, AlertRecord):
            metrics.observe_alert(r)  # as services._submit does
            raised.append(r)
    return metrics, raised


def test_each_worker_counts_what_it_raised_and_the_docs_say_so() -> None:
    workers = [_worker(), _worker()]
    for metrics, raised in workers:
        text = metrics.render(Gauges(0, 0, True, {}))
        assert 'arbiter_alerts_total{kind="usage_dropped"} 1' in text
        assert raised[0].once_every_s > 0  # the store keeps one of the two
        help_line = next(
            x for x in text.splitlines() if x.startswith("# HELP arbiter_alerts_total")
        )
        assert "this process raised" in help_line and "/arbiter/alerts" in help_line, help_line
    row = next(
        x for x in README.read_text().splitlines() if x.startswith("| `arbiter_alerts_total`")
    )
    assert "this process raised" in row and "/arbiter/alerts" in row, row
