"""The operator's alerts (recorder.SYSTEM_TENANT): read next to one tenant's with `operator`,
and migration 0021 moves those written under tenant "default" before it to the operator."""

from __future__ import annotations

from typing import Any

from arbiter.records import SYSTEM_TENANT, AlertRecord
from arbiter.store import Store
from arbiter.store._sql import load_migrations


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(r["id"] for r in rows)


def test_operator_alerts_join_one_tenants_only_when_asked(store: Store) -> None:
    store.write([
        AlertRecord("a1", 1.0, SYSTEM_TENANT, "circuit_open", "m down", model="m"),
        AlertRecord("a2", 2.0, "t1", "budget_threshold", "80% spent"),
        AlertRecord("a3", 3.0, "t2", "budget_threshold", "80% spent"),
    ])  # fmt: skip
    assert _ids(store.alerts(tenant="t1", limit=10)) == ["a2"]
    assert _ids(store.alerts(tenant="t1", limit=10, operator=True)) == ["a1", "a2"]
    assert _ids(store.alerts(tenant=None, limit=10, operator=True)) == ["a1", "a2", "a3"]


def test_migration_0021_moves_old_operator_alerts_off_the_default_tenant(store: Store) -> None:
    store.write([
        AlertRecord("c", 1.0, "default", "circuit_open", "m down", model="m"),
        AlertRecord("u", 2.0, "default", "upstream_config", "404", model="m"),
        AlertRecord("d", 3.0, "default", "models_discovered", "sim: x joined"),
        AlertRecord("b", 4.0, "default", "budget_threshold", "the default tenant's own"),
        AlertRecord("o", 5.0, "acme", "circuit_open", "not under default: left alone"),
    ])  # fmt: skip
    (steps,) = [s for v, s in load_migrations(store.backend) if v == 21]  # type: ignore[attr-defined]
    with store._tx() as cur:  # type: ignore[attr-defined]
        for stmt in steps:  # 0021 again, over rows written the old way
            cur.execute(stmt)
    assert _ids(store.alerts(tenant=SYSTEM_TENANT, limit=10)) == ["c", "d", "u"]
    assert _ids(store.alerts(tenant="default", limit=10)) == ["b"]
    assert _ids(store.alerts(tenant="acme", limit=10)) == ["o"]
