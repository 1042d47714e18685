"""An upstream answering 404 (unknown model) or 401 (refused key) is a configuration error, not
the caller's: it raises an alert naming the model and upstream, counts against the model's
circuit (which opens after `breaker.failure_threshold` of them), and `auto` moves on to another
model instead of failing the request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter.auth import create_key
from arbiter.errors import InvalidRequest
from arbiter.records import SYSTEM_TENANT
from tests.inproc import sidecar_in_process
from tests.waiting import until_async

BODY = {"model": "sim-small", "messages": [{"role": "user", "content": "Say hi."}]}


def _misnamed(text: str) -> str:
    # the registry's sim-small is asked for as `sim-smal`, which the upstream does not serve
    return text.replace("[models.sim-small]\n", '[models.sim-small]\nupstream_model = "sim-smal"\n')


def test_a_404_for_a_model_opens_an_alert_and_counts_against_its_circuit(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_misnamed) as sc:
            for _ in range(5):  # breaker.failure_threshold
                r = await sc.client.post("/v1/chat/completions", json=BODY, headers=sc.auth)
                assert r.status_code == 404  # the upstream's answer, passed on
            stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
            assert stats["circuits"]["sim-small"]["state"] == "open"
            alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
            config = [a for a in alerts if a["kind"] == "upstream_config"]
            assert len(config) == 1  # one alert, not one per request
            a = config[0]
            assert a["model"] == "sim-small" and a["data"]["upstream"] == "sim"
            assert a["data"]["status"] == 404 and a["data"]["upstream_model"] == "sim-smal"
            assert "'sim-smal'" in a["message"] and "check-config --probe" in a["message"]
            assert any(x["kind"] == "circuit_open" and x["model"] == "sim-small" for x in alerts)

    asyncio.run(go())


def test_auto_routes_around_a_model_the_upstream_does_not_know(tmp_path: Path) -> None:
    async def go() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_misnamed) as sc:
            for _ in range(12):
                r = await sc.client.post(
                    "/v1/chat/completions", json={**BODY, "model": "auto"}, headers=sc.auth
                )
                assert r.status_code == 200  # a misconfigured model never fails `auto`
                assert r.headers["x-arbiter-model"] != "sim-small"
            feed = (await sc.client.get("/arbiter/decisions", headers=sc.admin)).json()["data"]
            tried = [a for d in feed for a in d["attempts"] if a["model"] == "sim-small"]
            assert tried, "the router never tried sim-small: the test proves nothing"
            assert all(not a["ok"] and a["status"] == 404 for a in tried)

    asyncio.run(go())


def test_operator_alerts_are_the_admins_whatever_tenant_and_no_tenants(tmp_path: Path) -> None:
    """Circuit and upstream-configuration alerts concern the deployment, not the tenant whose
    request revealed them: the admin sees them unfiltered and next to any one tenant's alerts;
    no tenant's key reads them (nor another tenant's alerts)."""
    # acme's first answered call crosses the threshold: a budget_threshold alert of its own
    cap = (
        "\n[budgets]\nalert_thresholds = [0.000001]\n"
        '[[budgets.caps]]\nscope = "tenant"\nname = "acme"\nlimit_usd = 1.0\n'
    )

    async def go() -> None:
        edit = lambda t: _misnamed(t) + cap  # noqa: E731
        async with sidecar_in_process(tmp_path, edit_config=edit, tenant="acme") as sc:
            for _ in range(5):  # acme's calls open sim-small's circuit
                r = await sc.client.post("/v1/chat/completions", json=BODY, headers=sc.auth)
                assert r.status_code == 404, r.text
            r = await sc.client.post(
                "/v1/chat/completions", json={**BODY, "model": "sim-premium"}, headers=sc.auth
            )
            assert r.status_code == 200, r.text

            async def kinds(headers: dict[str, str], query: str = "") -> set[str]:
                r = await sc.client.get(f"/arbiter/alerts{query}", headers=headers)
                assert r.status_code == 200, r.text
                return {a["kind"] for a in r.json()["data"]}

            async def threshold_recorded() -> bool:
                await asyncio.to_thread(sc.services.recorder.flush, 5.0)
                return "budget_threshold" in await kinds(sc.admin)

            # the settle (and its threshold alert) runs off the path: wait for it to be written
            await until_async(threshold_recorded, "acme's budget_threshold alert")
            default = {"authorization": f"Bearer {create_key(sc.services.store, 'default').key}"}
            beta = {"authorization": f"Bearer {create_key(sc.services.store, 'beta').key}"}
            operator = {"upstream_config", "circuit_open"}
            assert operator | {"budget_threshold"} <= await kinds(sc.admin)
            assert operator | {"budget_threshold"} <= await kinds(sc.admin, "?tenant=acme")
            assert operator <= await kinds(sc.admin, "?tenant=beta")
            assert "budget_threshold" not in await kinds(sc.admin, "?tenant=beta")
            assert await kinds(sc.auth) == {"budget_threshold"}  # acme: its own only
            assert not await kinds(default) and not await kinds(beta)
            with pytest.raises(InvalidRequest):  # no client key may join the operator's tenant
                create_key(sc.services.store, SYSTEM_TENANT)

    asyncio.run(go())
