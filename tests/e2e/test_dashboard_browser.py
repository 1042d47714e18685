"""The dashboard in a real browser: the demo stack (sim + sidecar, child processes on loopback),
some traffic, then headless Chromium signs in and reads every page. The numbers on the pages must
be the JSON APIs' numbers; a click in the decision feed must reach that decision's "why" page.
Screenshots land in the test's tmp dir, or in $ARBITER_UI_SHOTS (the README's: bench/results/ui)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter.offline.demo import ANTHROPIC_TIERS, BASELINE, Running, drive, running_stack
from arbiter.offline.workload import make_workload
from tests.browser import chromium

# The README's screenshots (bench/results/ui) are refreshed only when asked
# (ARBITER_UI_SHOTS=bench/results/ui): a test run must not rewrite tracked files.
_SHOTS_ENV = os.environ.get("ARBITER_UI_SHOTS", "")
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_stack(tmp_path_factory.mktemp("ui"), anthropic_models=ANTHROPIC_TIERS) as running:
        items = make_workload(120, 11)
        asyncio.run(
            drive(running.base_url, items, baseline=BASELINE, seed=11, concurrency=6,
                  api_key=running.api_key, baseline_api_key=running.baseline_key, progress=False)
        )  # fmt: skip
        yield running


def _root(stack: Running) -> str:
    return stack.base_url.removesuffix("/v1")


def _get(stack: Running, path: str, key: str | None = None) -> Any:
    r = httpx.get(
        _root(stack) + path,
        headers={"authorization": f"Bearer {key or stack.admin_key}"},
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


def _num(n: int) -> str:
    return f"{n:,}"


def test_dashboard_pages_show_the_apis_numbers(stack: Running, tmp_path: Path) -> None:
    shots = Path(_SHOTS_ENV) if _SHOTS_ENV else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1320, "height": 900}, locale="en-US")
        page = ctx.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        expected_401 = "the server responded with a status of 401"  # the wrong key, on purpose
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(_root(stack) + "/arbiter/ui")
        page.wait_for_selector("#login-form")
        page.fill("#key", "not-a-key")
        page.click("#login-form button")
        page.wait_for_selector("#login-error:has-text('not accepted')")
        page.fill("#key", stack.admin_key)
        page.click("#login-form button")

        # savings: the page's cards against /arbiter/stats, every tenant (the admin key)...
        page.wait_for_selector("[data-test=savings-pct]")
        page.wait_for_selector(".chart-box svg path.line")
        stats = _get(stack, "/arbiter/stats")
        assert page.text_content("[data-test=savings-pct]") == f"{stats['savings_pct']:.1f}%"
        assert page.text_content("[data-test=requests]") == _num(stats["requests"])
        assert page.evaluate("sessionStorage.getItem('arbiter.key')") == stack.admin_key
        # ...then the routed tenant alone (the demo's baseline calls are a tenant of their own)
        assert _get(stack, "/arbiter/tenants")["data"] == ["demo", "demo-baseline"]
        page.select_option("#tenant", "demo")
        stats = _get(stack, "/arbiter/stats?tenant=demo")
        page.wait_for_selector(f"[data-test=requests]:text-is('{_num(stats['requests'])}')")
        assert page.text_content("[data-test=savings-pct]") == f"{stats['savings_pct']:.1f}%"
        # what Arbiter spent learning (the judge's calls here): apart from the tenant's figures
        judged = stats["learning"]["by_mode"]["judge"]["requests"]
        assert judged > 0
        card = page.locator(".card:has([data-test=learning-cost])")
        assert f"judge {_num(judged)}" in (card.text_content() or "")
        page.wait_for_selector(".chart-box svg path.line")
        page.screenshot(path=str(shots / "savings.png"), full_page=True)

        # requests per model and task
        page.click("nav a[data-view=models]")
        page.wait_for_selector("main[data-drawn=models]")  # every piece of the view drawn
        for model, row in stats["by_model"].items():
            cells = page.locator(f"[data-test=by-model] tr:has(td:text-is('{model}')) td")
            assert cells.nth(1).text_content() == _num(row["requests"])
        page.screenshot(path=str(shots / "models.png"), full_page=True)

        # the cost/quality view: one panel per task, the router's point on the routed tasks
        page.click("nav a[data-view=pareto]")
        page.wait_for_selector("main[data-drawn=pareto]")  # every task's chart (drawn in pieces)
        pareto = _get(stack, "/arbiter/pareto?tenant=demo")["data"]
        assert page.locator("section.pareto").count() == len(pareto)
        with_router = [t for t in pareto if t["router"] and t["router"]["mean_grade"] is not None]
        assert with_router
        assert page.locator("section.pareto .router-pt").count() == len(with_router)
        page.screenshot(path=str(shots / "pareto.png"), full_page=True)

        # the live feed, and a click through to "why this model"
        page.click("nav a[data-view=feed]")
        page.wait_for_selector("[data-test=feed] [data-test=decision-link]")
        page.screenshot(path=str(shots / "feed.png"))
        routed = page.locator("[data-test=feed] tbody tr:has(td:text-is('routed'))").first
        routed.locator("[data-test=decision-link]").click()
        page.wait_for_selector("[data-test=chosen-model]")
        decision_id = re.sub(r"^#/decision/", "", page.evaluate("location.hash"))
        d = _get(stack, f"/arbiter/decisions/{decision_id}")
        assert page.text_content("[data-test=chosen-model]") == d["chosen_model"]
        assert page.text_content("[data-test=reason]") == d["reason"]
        assert page.locator("[data-test=candidates] tbody tr").count() == len(d["candidates"])
        assert page.locator("[data-test=attempts] tbody tr").count() == len(d["attempts"])
        page.screenshot(path=str(shots / "why.png"), full_page=True)

        for view in ("alerts", "circuits", "budgets"):
            page.click(f"nav a[data-view={view}]")
            page.wait_for_selector(f"nav a.active[data-view={view}]")
            page.wait_for_selector("main h1")
            page.wait_for_load_state("networkidle")

        page.click("#logout")
        page.wait_for_selector("#login-form")
        assert page.evaluate("sessionStorage.getItem('arbiter.key')") is None
        assert [p for p in problems if expected_401 not in p] == []  # no script error, no CSP
        assert len(problems) <= 1
        ctx.close()


def test_a_tenant_key_sees_only_its_tenant_in_the_dashboard(stack: Running) -> None:
    root = _root(stack)
    other = httpx.post(
        root + "/arbiter/admin/keys",
        json={"tenant": "other-team"},
        headers={"authorization": f"Bearer {stack.admin_key}"},
        timeout=10,
    ).json()["key"]
    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        page.goto(root + "/arbiter/ui#/feed")
        page.fill("#key", other)
        page.click("#login-form button")
        page.wait_for_selector("main p.empty:has-text('No decisions yet')")
        assert _get(stack, "/arbiter/decisions", other)["data"] == []
        page.goto(root + "/arbiter/ui#/overview")
        page.wait_for_selector("[data-test=requests]")
        assert page.text_content("[data-test=requests]") == "0"
