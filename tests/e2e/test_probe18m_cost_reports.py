"""An outsider's probe of an upstream's own cost figure on the low side: a call whose usage costs
$0.075 at the model's prices, reported as costing $0 (`usage.cost: 0`), $1e-12, or a negative
cost header (read as 0), was billed $0: the tenant's cap never moved while the provider's invoice
did, and no alert said so. Now such a report counts as not reported (the call is priced from its
usage) and the operator gets one `cost_report_dropped` alert; a believable discount and a free
model's $0 stand. A real sidecar process in front of a scripted upstream on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, serving
from tests.waiting import until

USAGE = {"prompt_tokens": 1000, "completion_tokens": 1000}
PREMIUM = (15.0, 60.0)  # sim-premium's prices in the demo registry, $ per million tokens
PRICED = (1000 * PREMIUM[0] + 1000 * PREMIUM[1]) / 1e6  # $0.075
# prompt's first word -> (extra headers, the usage's `cost`: None = absent)
CASES: dict[str, tuple[dict[str, str], float | None]] = {
    "zero": ({}, 0.0),
    "tiny": ({}, 1e-12),
    "negative_header": ({"x-cost-usd": "-3"}, None),
    "discount": ({}, PRICED / 2),  # a real discount (a cached prompt, a cheaper route)
}


class _Upstream(ScriptedHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        req = self.read_json()
        headers, cost = CASES.get(req["messages"][-1]["content"].split()[0], ({}, None))
        usage: dict[str, Any] = dict(USAGE)
        if cost is not None:
            usage["cost"] = cost
        body = orjson.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "model": req["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": usage,
        })  # fmt: skip
        self.answer(body, headers=headers)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Upstream) as url:
        yield url


@pytest.fixture(scope="module")
def sidecar(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("cost18m")
    doc = demo_settings(upstream, tmp / "a.db")
    doc["routing"]["judge_sample_rate"] = 0.0
    doc["models"]["free"] = {**doc["models"]["sim-tiny"], "price_in_per_mtok": 0.0,
                             "price_out_per_mtok": 0.0}  # fmt: skip
    doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]}
    (tmp / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp / "a.toml").start()
    yield s
    s.stop()


def _ask(s: Sidecar, key: str, model: str, first_word: str) -> httpx.Response:
    r = httpx.post(
        f"{s.base_url}/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "max_tokens": 2000,
              "messages": [{"role": "user", "content": f"{first_word} please"}]},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return r


def _spent(s: Sidecar, tenant: str) -> float:
    rows = s.admin("GET", f"/arbiter/budgets?tenant={tenant}").json()["data"]
    return float(next(x for x in rows if x["scope"] == f"tenant:{tenant}")["spent_usd"])


@pytest.mark.parametrize("case", ["zero", "tiny", "negative_header"])
def test_a_report_far_under_the_usages_price_is_not_the_bill(sidecar: Sidecar, case: str) -> None:
    tenant = f"t18m-{case.replace('_', '-')}"
    key = str(sidecar.create_key(tenant)["key"])
    r = _ask(sidecar, key, "sim-premium", case)
    assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(PRICED, rel=1e-6)
    until(lambda: _spent(sidecar, tenant) > 0, "the request settled")
    assert _spent(sidecar, tenant) == pytest.approx(PRICED, rel=1e-6)
    row = sidecar.admin("GET", f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}").json()
    assert row["cost_source"] == "registry" and row["cost_usd"] == pytest.approx(PRICED)
    alerts = sidecar.admin("GET", "/arbiter/alerts?limit=1000").json()["data"]
    dropped = [a for a in alerts if a["kind"] == "cost_report_dropped"]
    assert dropped and dropped[0]["model"] == "sim-premium", alerts
    assert dropped[0]["data"]["usage_cost_usd"] == pytest.approx(PRICED)
    assert len(dropped) == 1  # one per model and side per 10 minutes, not one per call


def test_a_believable_discount_and_a_free_models_zero_stand(sidecar: Sidecar) -> None:
    key = str(sidecar.create_key("t18m-control")["key"])
    r = _ask(sidecar, key, "sim-premium", "discount")
    assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(PRICED / 2, rel=1e-6)
    r = _ask(sidecar, key, "free", "zero")
    assert float(r.headers["x-arbiter-cost-usd"]) == 0.0
