"""The `cost_report_dropped` alert is one per deployment each 10 minutes and side, not one per
process: with `server.workers = N` (or N replicas on one store) each worker raised its own, N
alerts a window for one upstream whose cost report is broken. The store keeps the first of the
window of its kind, model and `side` (AlertRecord.once_every_s, once_by): two workers' writers
race on both backends (one stored), the other side of the same model is its own alert, as are
another model's and the next window's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from arbiter.billing_alerts import ALERT_EVERY_S
from arbiter.records import AlertRecord
from tests.alert_race import race, stored, two_stores, worker_alerts


def _worker_alert(model: str, reported: float) -> AlertRecord:
    """The alert one worker raises for one cost report of `model` (its usage costs $0.01) not
    believed."""
    (alert,) = worker_alerts(lambda billing: billing.cost_report_dropped(model, reported, 0.01))
    return alert


def _sides(store: object, model: str) -> list[str]:
    return sorted(a["data"]["side"] for a in stored(store, "cost_report_dropped", model))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_store_one_alert_a_window_and_side(backend: str, tmp_path: Path) -> None:
    with two_stores(backend, tmp_path) as stores:
        for round_ in range(3):  # the two writers at once, each round another model
            model = f"m-{round_}"
            race(stores, [[_worker_alert(model, 0.0)], [_worker_alert(model, 0.0)]])
            assert _sides(stores[0], model) == ["under"]
            # the same model's other side is its own alert, once too
            race(stores, [[_worker_alert(model, 5.0)], [_worker_alert(model, 5.0)]])
            assert _sides(stores[0], model) == ["past", "under"]
        # the next window's first is stored again
        later = _worker_alert("m-1", 0.0)
        stores[1].write([replace(later, ts=later.ts + ALERT_EVERY_S + 1)])
        assert _sides(stores[0], "m-1") == ["past", "under", "under"]
