"""An admin price patch that lands while requests are in flight settled them at the new price:
a request reserved and sent at $15/$60 per million tokens was charged at $150/$600 (the settle
read the registry again), so a burst's bill jumped for calls the provider priced before the
change. A request is now charged at the price it was reserved and sent at; one sent after the
patch pays the new price. A real sidecar process (SQLite and PostgreSQL) in front of an upstream
on 127.0.0.1 that holds every answer until the patch is in, the official openai SDK as client
(whole answers and a stream)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import openai
import orjson
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, ok_chat_answer, serving
from tests.scripted_upstream import tenant_spent as _spent
from tests.waiting import until

OLD = (15.0, 60.0)  # sim-premium's prices in the demo registry, $ per million tokens
NEW = (150.0, 600.0)
USAGE = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}


def cost(prices: tuple[float, float]) -> float:
    return (1000 * prices[0] + 1000 * prices[1]) / 1e6


class _Upstream(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    arrived: ClassVar[list[bool]] = []  # one per call taken (its `stream`)
    release: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        req = self.read_json()
        stream = bool(req.get("stream"))
        self.arrived.append(stream)
        self.release.wait(30)
        head = {"id": "chatcmpl-1", "created": 1, "model": req["model"]}
        if not self.path.endswith("/chat/completions"):  # /v1/completions (pass-through)
            body = orjson.dumps({
                **head, "object": "text_completion", "usage": USAGE,
                "choices": [{"index": 0, "text": "ok", "finish_reason": "stop",
                             "logprobs": None}],
            })  # fmt: skip
            kind = "application/json"
        else:
            body, kind = ok_chat_answer(req["model"], stream, USAGE)
        self.answer(body, kind)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Upstream) as url:
        try:
            yield url
        finally:
            _Upstream.release.set()  # no held answer outlives the module


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sidecar(request: pytest.FixtureRequest, upstream: str, tmp_path: Path) -> Iterator[Sidecar]:
    with capped_sidecar(upstream, request.param, tmp_path) as s:
        yield s


def _patch(s: Sidecar, prices: tuple[float, float]) -> None:
    r = s.admin("PATCH", "/arbiter/admin/models/sim-premium",
                json={"price_in_per_mtok": prices[0], "price_out_per_mtok": prices[1]})  # fmt: skip
    assert r.status_code == 200, r.text


def test_requests_in_flight_at_a_price_patch_pay_the_price_they_were_sent_at(
    sidecar: Sidecar,
) -> None:
    tenant = "t-price-burst"
    key = str(sidecar.create_key(tenant)["key"])
    _Upstream.arrived.clear()
    _Upstream.release.clear()
    ask = [{"role": "user", "content": "A haiku about rain, please."}]
    whole, streamed = 4, 1
    with (
        openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=60) as gpt,
        ThreadPoolExecutor(whole + streamed) as pool,
    ):

        def one() -> tuple[float, str]:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-premium",
                max_tokens=2000,
                messages=ask,  # type: ignore[arg-type]
            )
            return float(raw.headers["x-arbiter-cost-usd"]), raw.headers["x-arbiter-decision-id"]

        def stream() -> str:
            raw = gpt.chat.completions.with_raw_response.create(
                model="sim-premium", max_tokens=2000, messages=ask, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert text == "ok"
            return raw.headers["x-arbiter-decision-id"]

        def legacy() -> tuple[float, str]:  # /v1/completions: passed through, not routed
            raw = gpt.completions.with_raw_response.create(
                model="sim-premium", prompt="A haiku about rain:", max_tokens=2000
            )
            assert raw.parse().choices[0].text == "ok"
            return float(raw.headers["x-arbiter-cost-usd"]), raw.headers["x-arbiter-decision-id"]

        futures = [pool.submit(one) for _ in range(whole - 1)] + [pool.submit(legacy)]
        streaming = pool.submit(stream)
        until(lambda: len(_Upstream.arrived) == whole + streamed, "every call sent")
        _patch(sidecar, NEW)  # while every call is at the upstream
        _Upstream.release.set()
        answered = [f.result(timeout=60) for f in futures]
        stream_id = streaming.result(timeout=60)
        assert [c for c, _ in answered] == [pytest.approx(cost(OLD), rel=1e-6)] * whole
        ids = [i for _, i in answered] + [stream_id]
        for decision_id in ids:
            until(lambda d=decision_id: sidecar.admin("GET", f"/arbiter/decisions/{d}").status_code
                  == 200, "the decision recorded")  # fmt: skip
            row = sidecar.admin("GET", f"/arbiter/decisions/{decision_id}").json()
            assert row["cost_usd"] == pytest.approx(cost(OLD), rel=1e-6), row
        until(lambda: _spent(sidecar, tenant) >= (whole + streamed) * cost(OLD) - 1e-9, "settled")
        assert _spent(sidecar, tenant) == pytest.approx((whole + streamed) * cost(OLD), rel=1e-6)
        # a request sent after the patch pays the new price
        after, _ = one()
        assert after == pytest.approx(cost(NEW), rel=1e-6)
        until(lambda: _spent(sidecar, tenant) > (whole + streamed) * cost(OLD) + 1e-9, "settled")
        assert _spent(sidecar, tenant) == pytest.approx(
            (whole + streamed) * cost(OLD) + cost(NEW), rel=1e-6
        )
