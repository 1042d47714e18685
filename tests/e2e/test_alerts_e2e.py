"""Upstream-reported cost: billed as reported, with an alert when it drifts off the registry."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Sidecar

MESSAGES = [{"role": "user", "content": "Write a limerick about a cat."}]


@pytest.fixture
def inflated_premium(sim_url: str) -> Iterator[None]:
    control = sim_url.removesuffix("/v1") + "/_sim/control"
    httpx.post(
        control, json={"model": "sim-premium", "reported_price_factor": 1.5}
    ).raise_for_status()
    yield
    httpx.post(control, json={"model": "sim-premium", "reported_price_factor": 1.0})


def test_reported_cost_is_used_and_price_drift_alerts(
    sidecar: Sidecar, api_key: str, inflated_premium: None
) -> None:
    headers = {"authorization": f"Bearer {api_key}"}
    for _ in range(5):  # a price off from the first calls: alerted once the detector warmed up
        r = httpx.post(
            f"{sidecar.base_url}/chat/completions",
            headers=headers,
            json={"model": "sim-premium", "messages": MESSAGES},
        )
        assert r.status_code == 200
    reported = r.json()["usage"]["cost"]
    assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(reported, rel=1e-6)
    row = httpx.get(
        f"{sidecar.root_url}/arbiter/decisions/{r.headers['x-arbiter-decision-id']}",
        headers=headers,
    ).json()
    assert row["cost_source"] == "upstream"
    alerts = sidecar.admin("GET", "/arbiter/alerts").json()["data"]
    drift = [a for a in alerts if a["kind"] == "price_change"]
    assert drift and drift[0]["model"] == "sim-premium" and drift[0]["data"]["after"] == 1.5
    assert drift[0]["tenant"] == "_system"  # a model's price is the operator's fact
