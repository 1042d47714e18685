"""Cost telemetry: models that report their own cost in the body, a header, or both."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from arbiter.offline.sim import SimServer

from .helpers import AUTH, fast_config, fast_model, sse_data

PRICES = {"price_in_per_mtok": 2.0, "price_out_per_mtok": 8.0}
HELLO = [{"role": "user", "content": "Can you explain inflation in simple terms?"}]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    config = fast_config({
        "silent": fast_model(**PRICES),
        "body": fast_model(**PRICES, report_cost="body"),
        "header": fast_model(**PRICES, report_cost="header"),
        "both": fast_model(**PRICES, report_cost="both", reported_price_factor=1.5),
    })  # fmt: skip
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as c:
        yield c


def _true_cost(usage: dict[str, int]) -> float:
    return (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1e6


def test_no_cost_unless_configured(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={"model": "silent", "messages": HELLO})
    assert "cost" not in r.json()["usage"]
    assert "x-upstream-cost-usd" not in r.headers


def test_cost_in_body_or_header_at_registry_price(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={"model": "body", "messages": HELLO})
    usage = r.json()["usage"]
    assert usage["cost"] == pytest.approx(_true_cost(usage))
    assert "x-upstream-cost-usd" not in r.headers
    r = client.post("/v1/chat/completions", json={"model": "header", "messages": HELLO})
    assert float(r.headers["x-upstream-cost-usd"]) == pytest.approx(_true_cost(r.json()["usage"]))
    assert "cost" not in r.json()["usage"]


def test_reported_price_factor_inflates_the_reported_cost(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={"model": "both", "messages": HELLO})
    usage = r.json()["usage"]
    assert usage["cost"] == pytest.approx(1.5 * _true_cost(usage))
    assert float(r.headers["x-upstream-cost-usd"]) == pytest.approx(usage["cost"])
    stats = client.get("/_sim/stats").json()["models"]["both"]
    assert stats["true_cost_usd"] == pytest.approx(_true_cost(usage))


def test_stream_reports_cost_in_the_usage_chunk_and_header(client: httpx.Client) -> None:
    body = {"model": "both", "messages": HELLO, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        header = float(r.headers["x-upstream-cost-usd"])
        payloads = sse_data(list(r.iter_lines()))
    usage = json.loads(payloads[-2])["usage"]
    assert usage["cost"] == pytest.approx(1.5 * _true_cost(usage))
    assert header == pytest.approx(usage["cost"])
