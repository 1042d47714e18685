"""Challengers and shadow traffic (shadow.py), through the sidecar in process: a challenger is
never routed by `auto` until promoted, gets a sampled share of traffic in the background, inside
its own daily budget, never touching the client's answer; the A/B report and the admin actions."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx

from arbiter.offline.workload import make_workload
from arbiter.shadow import _Tally
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import check_anthropic_error


def _with_shadow(extra: str, target: float | None = None) -> object:
    def edit(text: str) -> str:
        if target is not None:
            text = text.replace("quality_target = 0.98", f"quality_target = {target}")
        return text + "\n[shadow]\n" + extra + "\n"

    return edit


async def _sim(sc: InProcess, body: dict) -> None:  # type: ignore[type-arg]
    async with httpx.AsyncClient() as sim:
        r = await sim.post(sc.sim.base_url.removesuffix("/v1") + "/_sim/control", json=body)
        r.raise_for_status()


async def _ask(
    sc: InProcess, n: int, seed: int = 1, task: str = "math", **extra: object
) -> list[httpx.Response]:
    out = []
    for item in make_workload(n, seed=seed, tasks=(task,)):  # type: ignore[arg-type]
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": item.messages, **extra},
            headers=sc.auth,
        )
        assert r.status_code == 200, r.text
        out.append(r)
    return out


async def _decisions(sc: InProcess) -> list[dict]:  # type: ignore[type-arg]
    await sc.services.shadow.drain()
    await sc.services.learner.drain()
    await sc.services.shadow.drain()
    sc.services.recorder.flush(5.0)
    r = await sc.client.get("/arbiter/decisions?limit=1000", headers=sc.admin)
    return r.json()["data"]  # type: ignore[no-any-return]


def test_a_challenger_gets_shadow_traffic_only(tmp_path: Path) -> None:
    async def go() -> None:
        # room for every call at once: the latency probes of models not yet called share the
        # shadow calls' in-flight cap (4), which on a loaded host skipped one now and then
        edit = _with_shadow('challengers = ["sim-small"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
                            "auto_promote = false\nmax_in_flight = 64")  # fmt: skip
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            answers = await _ask(sc, 12)
            rows = await _decisions(sc)
            served = [r for r in rows if r["mode"] == "routed"]
            shadow = [r for r in rows if r["mode"] == "shadow"]
            assert len(served) == 12 and all(r["chosen_model"] != "sim-small" for r in served)
            excluded = [c for c in served[0]["candidates"] if c["model"] == "sim-small"]
            assert excluded and "shadow traffic only" in str(excluded[0])
            skipped = sc.services.shadow.skipped  # why a shadow call was not made
            assert len(shadow) == 12, (len(shadow), skipped)
            assert {r["chosen_model"] for r in shadow} == {"sim-small"}
            ids = {a.headers["x-arbiter-decision-id"] for a in answers}
            assert {r["reason"].removeprefix("shadow of ") for r in shadow} == ids
            assert all(r["cost_usd"] > 0 for r in shadow)
            # nothing of the shadow call reaches the client
            assert all("sim-small" not in a.text for a in answers)
            report = (await sc.client.get("/arbiter/challengers", headers=sc.admin)).json()
            (small,) = report["data"]
            assert small["model"] == "sim-small" and small["status"] == "challenger"
            assert small["calls"] == 12 and small["graded"] == 12 and small["pairs"] == 12
            lo, hi = small["tasks"]["math"]["grade_vs_incumbent"]["ci95"]
            assert lo <= small["tasks"]["math"]["grade_vs_incumbent"]["mean_difference"] <= hi
            # tenants cannot read the report
            r = await sc.client.get("/arbiter/challengers", headers=sc.auth)
            assert r.status_code in (401, 403)

    asyncio.run(go())


def test_shadow_failures_and_budget_never_touch_the_client(tmp_path: Path) -> None:
    async def go() -> None:
        edit = _with_shadow('challengers = ["sim-medium"]\nsample_rate = 1.0\n'
                            "budget_usd = 0.004\nauto_promote = false")  # fmt: skip
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            await _ask(sc, 30, max_tokens=64)  # a worst case of ~$0.0007 per shadow call
            rows = await _decisions(sc)
            spent = sum(r["cost_usd"] for r in rows if r["mode"] == "shadow")
            assert 0 < spent <= 0.004  # a real cap: reserved before each call
            assert sc.services.shadow.skipped.get("budget_exceeded", 0) > 0
            await _sim(sc, {"model": "sim-medium", "error_rate_5xx": 1.0})
            await _ask(sc, 5, seed=2)  # the challenger fails: the client never sees it

    asyncio.run(go())


def test_a_good_challenger_is_promoted_and_then_routed(tmp_path: Path) -> None:
    async def go() -> None:
        edit = _with_shadow('challengers = ["sim-small"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
                            "promote_min_graded = 20\npromote_confidence = 0.8",
                            target=0.85)  # fmt: skip
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            await _sim(sc, {"model": "sim-small", "quality": 1.0})
            for seed in range(1, 8):
                await _ask(sc, 20, seed=seed)
                await _decisions(sc)
                if "math" in sc.services.shadow.challengers.state["sim-small"]["tasks"]:
                    break
            st = sc.services.shadow.challengers.state["sim-small"]
            assert st["tasks"] == ["math"] and "promoted for math" in st["note"]
            assert sc.services.store.challengers()["sim-small"]["tasks"] == ["math"]
            alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
            (promoted,) = [a for a in alerts if a["kind"] == "challenger_promoted"]
            assert promoted["tenant"] == "_system"  # routing changed for every tenant
            answers = await _ask(sc, 30, seed=99)
            chosen = {a.headers["x-arbiter-model"] for a in answers}
            assert "sim-small" in chosen  # promoted for math: now routed there

    asyncio.run(go())


def test_operator_actions(tmp_path: Path) -> None:
    async def go() -> None:
        edit = _with_shadow('challengers = ["sim-small"]\nsample_rate = 1.0\nbudget_usd = 10.0')
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            post = sc.client.post
            r = await post("/arbiter/challengers/sim-small", json={"action": "pause"},
                           headers=sc.admin)  # fmt: skip
            assert r.status_code == 200 and r.json()["status"] == "paused"
            await _ask(sc, 5)
            assert [r for r in await _decisions(sc) if r["mode"] == "shadow"] == []
            for bad, code in (({"action": "nope"}, 400), ({}, 400), ({"action": "promote",
                              "tasks": "math"}, 400)):  # fmt: skip
                r = await post("/arbiter/challengers/sim-small", json=bad, headers=sc.admin)
                assert r.status_code == code and r.json()["error"]["param"] in ("action", "tasks")
            r = await post("/arbiter/challengers/nope", json={"action": "pause"}, headers=sc.admin)
            assert r.status_code == 404
            r = await post("/arbiter/challengers/sim-small", json={"action": "pause"},
                           headers=sc.auth)  # fmt: skip
            assert r.status_code in (401, 403)
            promote = {"action": "promote", "tasks": ["chat"]}
            r = await post("/arbiter/challengers/sim-small", json=promote, headers=sc.admin)
            assert r.json() == {"model": "sim-small", "status": "promoted", "tasks": ["chat"]}
            assert "sim-small" not in (sc.services.shadow.blocked("chat") or {})
            assert "sim-small" in (sc.services.shadow.blocked("math") or {})
            # another replica on the same store adopts it on its next sync
            sc.services.shadow.challengers.state.clear()
            sc.services.shadow.refresh()
            assert sc.services.shadow.challengers.state["sim-small"]["status"] == "promoted"

    asyncio.run(go())


def test_feedback_on_a_shadow_call_is_refused(tmp_path: Path) -> None:
    """A shadow call's id is in the tenant's feed, but no client saw its answer: feedback on it
    would teach the challenger from a verdict on something else."""

    async def go() -> None:
        edit = _with_shadow('challengers = ["sim-small"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
                            "auto_promote = false")  # fmt: skip
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            answers = await _ask(sc, 2)
            rows = await _decisions(sc)
            shadow_id = next(r["id"] for r in rows if r["mode"] == "shadow")
            for forget in (False, True):
                if forget:  # another replica, or long after: the store's mode says it
                    sc.services.shadow._pairs.clear()
                    sc.services.learner._applied.clear()
                r = await sc.client.post(
                    "/v1/feedback", json={"decision_id": shadow_id, "score": 0.0}, headers=sc.auth
                )
                assert r.status_code == 400 and r.json()["error"]["param"] == "decision_id"
            served = answers[0].headers["x-arbiter-decision-id"]
            r = await sc.client.post(
                "/v1/feedback", json={"decision_id": served, "score": 1.0}, headers=sc.auth
            )
            assert r.status_code == 200

    asyncio.run(go())


def test_a_pool_of_challengers_only_is_a_503_in_each_surface(tmp_path: Path) -> None:
    """No model `auto` may route to is the operator's problem, not the client's: a 503 (not a
    400) in the caller's shape (Anthropic's: 529 overloaded_error); a model named directly is
    still served."""

    async def go() -> None:
        every = '"sim-tiny", "sim-small", "sim-medium", "sim-premium"'
        edit = _with_shadow(f"challengers = [{every}]\nsample_rate = 0.0")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            user = [{"role": "user", "content": "What is 2 + 2?"}]
            r = await sc.client.post(
                "/v1/chat/completions", json={"model": "auto", "messages": user}, headers=sc.auth
            )
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "no_route_available" and "challenger" in error["message"]
            r = await sc.client.post(
                "/v1/messages",
                json={"model": "auto", "max_tokens": 50, "messages": user},
                headers=sc.anthropic,
            )
            # Anthropic's shape for "no capacity now" (every NoRouteAvailable maps to it there)
            assert "challenger" in check_anthropic_error(r, 529, "overloaded_error")
            r = await sc.client.post(
                "/v1/responses", json={"model": "auto", "input": "What is 2 + 2?"}, headers=sc.auth
            )
            assert r.status_code == 503 and r.json()["error"]["code"] == "no_route_available"
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "sim-small", "messages": user},
                headers=sc.auth,
            )
            assert r.status_code == 200, r.text

    asyncio.run(go())


def test_a_sync_read_across_a_promotion_write_does_not_undo_it(tmp_path: Path) -> None:
    """The policy sync (a thread) adopts the store's challenger rows. A read that began before
    this replica's promotion reached the store, adopted after it, undid the promotion in memory
    until the next sync, and the next shadow grade promoted (and alerted) again: the promotion
    test's one alert was two, once in a while on a loaded host. Here the write is held while
    the sync reads: the promotion stays, and is alerted once."""

    async def go() -> None:
        edit = _with_shadow('challengers = ["sim-small"]\nsample_rate = 0.0\nbudget_usd = 10.0\n'
                            "promote_min_graded = 20\npromote_confidence = 0.8",
                            target=0.85)  # fmt: skip
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:  # type: ignore[arg-type]
            shadow, store = sc.services.shadow, sc.services.store
            gate = threading.Event()
            write = store.set_challenger

            def held(*args: Any) -> None:
                assert gate.wait(timeout=20), "the write was never released"
                write(*args)

            store.set_challenger = held  # type: ignore[method-assign]
            tally = _Tally(graded=20, grade_sum=20.0, grade_sq=20.0)  # 20 perfect grades
            try:
                shadow._maybe_promote("default", "sim-small", "math", tally)
                assert shadow.challengers.state["sim-small"]["tasks"] == ["math"]
                await asyncio.to_thread(shadow.refresh)  # the sync reads the row not written
                assert shadow.challengers.state["sim-small"]["tasks"] == ["math"]
                shadow._maybe_promote("default", "sim-small", "math", tally)  # the next grade
            finally:
                gate.set()
            await shadow.drain()
            await asyncio.to_thread(shadow.refresh)  # the write landed: adopted
            assert shadow.challengers.state["sim-small"]["tasks"] == ["math"]
            assert store.challengers()["sim-small"]["tasks"] == ["math"]
            sc.services.recorder.flush(5.0)
            alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
            assert len([a for a in alerts if a["kind"] == "challenger_promoted"]) == 1, alerts

    asyncio.run(go())
