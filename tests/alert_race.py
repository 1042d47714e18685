"""Two workers' alerts raced into one store: what the `*_dropped_once` tests share. Each worker
raises its own alert (its own BillingAlerts, as a process of `server.workers = N` has), then
their writers, each with its own store connection, write at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arbiter.alerts import AlertRules
from arbiter.billing_alerts import BillingAlerts
from arbiter.metrics import Metrics
from arbiter.records import AlertRecord, Record
from arbiter.store import open_store
from tests.pg import empty_store_url


@contextmanager
def two_stores(backend: str, tmp: Path) -> Iterator[list[Any]]:
    """Two connections (a worker's each) to one fresh, migrated store of `backend`."""
    with empty_store_url(backend, tmp / "a.db") as url:
        stores = [open_store(url), open_store(url)]
        try:
            stores[0].migrate()
            yield stores
        finally:
            for s in stores:
                s.close()


def stored(store: Any, kind: str, model: str) -> list[dict[str, Any]]:
    """The alerts of `kind` about `model` the store keeps."""
    rows = store.alerts(tenant=None, limit=100)
    return [a for a in rows if a["kind"] == kind and a["model"] == model]


def worker_alerts(raise_: Callable[[BillingAlerts], None]) -> list[AlertRecord]:
    """The alerts a fresh worker's BillingAlerts raises for `raise_` (one call on it)."""
    raised: list[Record] = []
    raise_(BillingAlerts(AlertRules(raised.append), Metrics(), lambda _m: None))
    return [r for r in raised if isinstance(r, AlertRecord)]


def race(stores: Sequence[object], batches: Sequence[list[AlertRecord]]) -> None:
    """Store `i` writes `batches[i]`, all at once (released together by a barrier)."""
    gate = threading.Barrier(len(batches))

    def write(i: int) -> None:
        gate.wait(timeout=10)
        stores[i].write(batches[i])  # type: ignore[attr-defined]

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
