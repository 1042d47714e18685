"""probe21: latency drift seen from outside. A real `arbiter serve` in front of the scripted
upstream (tests/fault_upstream.py, `delay@S`), the official `openai` SDK as the client.

- oa-1 answers in 60 ms, then in 180 ms (x3): a `latency_change` alert (model, direction up) is
  in /arbiter/alerts and counted in /metrics within 20 calls; a routed request under a 150 ms
  SLO then goes to oa-2 and its reason names the change; back to 60 ms after a slow spell, the
  recovery (down) is detected within 20 calls too and routing returns.
- (Not asserted: a spell that ends right after its detection raises no "down" alert: the
  latency model, restarted at the adopted level as a prior, re-learns from one or two fast
  calls, so the detector's new reference is already the fast level. Routing returns to oa-1
  after two calls; /arbiter/alerts shows the rise alone. bench/results/probe21.md.)
- A steady model with noisy latency (30-90 ms, uniform, seeded) raises no latency alert over 60
  calls (no storm)."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import fault_upstream
from tests.probe19a_harness import Rig, Timeouts, config

pytestmark = pytest.mark.timeout(120)
TIMEOUTS = Timeouts(first_byte_s=3.0, total_s=4.0, deadline_s=5.0)


@pytest.fixture(scope="module", name="rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("probe21drift")
    with fault_upstream() as up:
        cfg = tmp / "arbiter.toml"
        cfg.write_text(config(up.port, tmp / "a.db", TIMEOUTS))
        sidecar = Sidecar(cfg).start()
        try:
            key = str(sidecar.create_key("default")["key"])
            gpt = openai.OpenAI(api_key=key, base_url=sidecar.base_url, max_retries=0, timeout=10)
            with gpt:
                yield Rig(up, sidecar, key, TIMEOUTS.deadline_s, gpt, None)  # type: ignore[arg-type]
        finally:
            sidecar.stop()


def _call(rig: Rig, model: str, delay: float, headers: dict[str, str] | None = None) -> Any:
    text = f"Say hello. [[fault:{model}=delay@{delay:.3f}]]"
    if model == "oa-1":  # a routed call that picks oa-2 answers at once
        text += " [[fault:oa-2=delay@0]]"
    raw = rig.gpt.chat.completions.with_raw_response.create(
        model=model if headers is None else "auto",
        messages=[{"role": "user", "content": text}],
        extra_headers=headers or {},
    )
    assert raw.http_response.status_code == 200
    return raw


def _routed(rig: Rig, delay: float, slo: dict[str, str]) -> tuple[str, str]:
    """A routed call under `slo` (oa-1 at `delay`, oa-2 at once): the model routing chose and
    the decision's id. The SLO is also the request's deadline (latency_slo.deadline_s): on a
    loaded host a 60 ms call's answer came past 150 ms and was cut (504, "the request deadline
    passed"), which says nothing of the choice; that 504 names its decision and model too."""
    try:
        raw = _call(rig, "oa-1", delay, slo)
        return raw.headers["x-arbiter-model"], raw.headers["x-arbiter-decision-id"]
    except openai.APIStatusError as err:
        assert err.status_code == 504 and "deadline passed" in err.message, err
        headers = err.response.headers
        return headers["x-arbiter-model"], headers["x-arbiter-decision-id"]


def _changes(rig: Rig, model: str) -> list[dict[str, Any]]:
    alerts = rig.get("/arbiter/alerts?limit=1000").json()["data"]
    return [a for a in alerts if a["kind"] == "latency_change" and a["model"] == model]


def _alerts_metric(rig: Rig) -> float:
    text = rig.get("/metrics").text
    m = re.search(r'^arbiter_alerts_total\{kind="latency_change"\} (\S+)$', text, re.M)
    return float(m[1]) if m else 0.0


def _until_change(rig: Rig, model: str, delay: float, counted: float) -> int:
    """Calls of `model` at `delay` until /metrics counts one more latency change than
    `counted` (at most 20): how many it took."""
    for i in range(1, 21):
        _call(rig, model, delay)
        if _alerts_metric(rig) > counted:
            return i
    raise AssertionError(f"no latency_change for {model} in 20 calls at {delay} s")


def _alerted(rig: Rig, model: str, n: int) -> list[dict[str, Any]]:
    """The model's latency changes on /arbiter/alerts once `n` are there (written behind)."""
    deadline = time.monotonic() + 5
    while len(changes := _changes(rig, model)) < n:
        assert time.monotonic() < deadline, changes
        time.sleep(0.05)
    return changes


def test_a_tripled_latency_is_alerted_routed_around_and_its_recovery_seen(rig: Rig) -> None:
    """60 ms, then 180 ms: alerted within 20 calls, and a routed request under a 150 ms SLO
    leaves oa-1 for oa-2 saying why. The slow spell lasts 15 calls more, then oa-1 is fast
    again: the recovery (down) is alerted within 20 calls and routing returns to oa-1."""
    slo = {"x-arbiter-max-latency-ms": "150"}
    for _ in range(5):
        _call(rig, "oa-2", 0.0)
    for _ in range(30):
        _call(rig, "oa-1", 0.06)
    assert _routed(rig, 0.06, slo)[0] == "oa-1"  # cheapest, fits
    counted = _alerts_metric(rig)
    up = _until_change(rig, "oa-1", 0.18, counted)
    (change,) = _alerted(rig, "oa-1", 1)
    assert change["data"]["direction"] == "up" and change["tenant"] == "_system", change
    assert 2.0 < change["data"]["magnitude"] < 4.5, change
    model, decision_id = _routed(rig, 0.18, slo)
    assert model == "oa-2"  # oa-1 no longer fits 150 ms
    reason = rig.decision(decision_id)["reason"]
    assert "change: oa-1: latency x" in reason, reason
    for _ in range(15):
        _call(rig, "oa-1", 0.18)
    down = _until_change(rig, "oa-1", 0.06, counted + 1)
    back = _alerted(rig, "oa-1", 2)[0]
    assert back["data"]["direction"] == "down", back
    assert _routed(rig, 0.06, slo)[0] == "oa-1"
    print(f"probe21 drift: x3 alerted after {up} calls, recovery after {down}")


def test_a_steady_noisy_model_raises_no_latency_alert(rig: Rig) -> None:
    draw = random.Random(21)
    for _ in range(60):
        _call(rig, "oa-2", draw.uniform(0.03, 0.09))
    assert _changes(rig, "oa-2") == []


# what oa-1's call costs at its configured prices: 11 prompt and 7 completion tokens
OA1_COST = (11 * 1000.0 + 7 * 2000.0) / 1e6


def _priced(rig: Rig, factor: float, routed: bool = False) -> Any:
    text = f"Say hello. [[fault:oa-1=cost@{OA1_COST * factor:.9f}]]"
    raw = rig.gpt.chat.completions.with_raw_response.create(
        model="auto" if routed else "oa-1", messages=[{"role": "user", "content": text}]
    )
    assert raw.http_response.status_code == 200
    return raw


def _price_changes(rig: Rig) -> list[dict[str, Any]]:
    alerts = rig.get("/arbiter/alerts?limit=1000").json()["data"]
    return [a for a in alerts if a["kind"] == "price_change" and a["model"] == "oa-1"]


def _price_metric(rig: Rig) -> float:
    text = rig.get("/metrics").text
    m = re.search(r'^arbiter_alerts_total\{kind="price_change"\} (\S+)$', text, re.M)
    return float(m[1]) if m else 0.0


def _until_price_change(rig: Rig, factor: float, counted: float) -> int:
    for i in range(1, 6):  # the bound: within 5 priced calls
        _priced(rig, factor)
        if _price_metric(rig) > counted:
            return i
    raise AssertionError(f"no price_change in 5 calls at x{factor}")


def test_a_reported_price_that_quadruples_is_alerted_adopted_and_routed_around(rig: Rig) -> None:
    """oa-1's upstream reports usage.cost at its configured prices for 8 calls, then at 4x
    (dearer than oa-2 then): within 5 calls a price_change (operator's) is alerted and counted,
    /arbiter/admin/models lists 4x its prices, a routed request leaves it for oa-2 naming the
    change, and the spend follows the report; back at 1x, the return is seen within 5 too."""
    for _ in range(8):
        assert _priced(rig, 1.0, routed=True).headers["x-arbiter-model"] == "oa-1"
    counted = _price_metric(rig)
    up = _until_price_change(rig, 4.0, counted)
    deadline = time.monotonic() + 5
    while not (changes := _price_changes(rig)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert changes[0]["tenant"] == "_system" and changes[0]["data"]["after"] == pytest.approx(4.0)
    models = rig.get("/arbiter/admin/models").json()["data"]
    oa1 = next(m for m in models if m["name"] == "oa-1")
    assert oa1["price_in_per_mtok"] == pytest.approx(4000.0), oa1
    routed = _priced(rig, 4.0, routed=True)
    assert routed.headers["x-arbiter-model"] == "oa-2"
    reason = rig.decision(routed.headers["x-arbiter-decision-id"])["reason"]
    assert "change: oa-1: price now x4.00" in reason, reason
    down = _until_price_change(rig, 1.0, counted + 1)
    oa1 = next(m for m in rig.get("/arbiter/admin/models").json()["data"] if m["name"] == "oa-1")
    assert oa1["price_in_per_mtok"] == pytest.approx(1000.0), oa1
    print(f"probe21 price: x4 alerted after {up} calls, back after {down}")
