"""Budget caps hold under concurrency, on one sidecar and on two sharing a store (bench/)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.bench_scripts import load
from tests.pg import pg_url


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
    url = pg_url()
    if url is None:
        pytest.skip("no PostgreSQL server available")
    _check(_bench().run(2, url, 120, 20, 120, 4))
