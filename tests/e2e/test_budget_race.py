"""Budget caps hold under concurrency, on one sidecar and on two sharing a store (bench/)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.bench_scripts import load
from tests.pg import require_pg


def _bench() -> ModuleType:
    return load("budget_race")


def _check(result: dict[str, object]) -> None:
    assert result["overshoot_usd"] <= result["worst_case_request_usd"]  # type: ignore[operator]
    assert result["spent_usd"] <= result["cap_usd"] + result["worst_case_request_usd"]  # type: ignore[operator]
    assert result["refused"] == result["refused_with_budget_error"]
    assert result["reached_upstream_without_valid_key"] == 0
    assert result["ok"] >= 1 and result["refused"] >= 1


def test_two_sidecars_on_sqlite_never_overshoot() -> None:
    _check(_bench().run(2, None, 120, 20, 120, 4))


@pytest.mark.postgres
def test_two_sidecars_on_postgres_never_overshoot() -> None:
    url = require_pg()
    _check(_bench().run(2, url, 120, 20, 120, 4))


@pytest.mark.parametrize("scenario", ["n8", "tools40", "cascade", "failover_billed", "judge"])
def test_leaky_requests_stay_within_one_worst_case(scenario: str) -> None:
    """Spend billed at a mock upstream that always talks to its output limit (bench/budget_mock.py),
    against a cap of 8 worst cases: the old reservations passed it by 1.3-25 worst cases."""
    result = _bench().run_scenario(scenario, requests=24, concurrency=24)
    assert result["overshoot_worst_cases"] <= 1.0, result
    assert result["counted_by_sidecar_usd"] >= result["billed_at_upstream_usd"] - 1e-9, result
    assert result["ok"] >= 1 and result["other"] == 0, result
