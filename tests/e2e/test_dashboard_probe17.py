"""Outside probe (seventeenth session): the dashboard at scale, with 100 KB values, with gaps in
its timeseries and with a store that starts failing, in a real browser (headless Chromium on the
demo stack: sim + sidecar, child processes on loopback).

Found, each failing before its fix:
- a 100 KB model id, task, tenant or message with no space in it set the width of its table:
  the feed, the alerts and the decision's page were 2-3 million pixels wide;
- the decision feed showed the newest 50 rows and nothing older (10,000 decisions: 9,950 out of
  reach), and when the newest 200 were all the judge's own calls it said "No decisions yet";
- a view's refresh that failed (the store down) left the page as it was, still saying "live",
  with an uncaught error in the console and nothing on screen;
- the cumulative cost line was drawn straight across minutes with no traffic, showing spend in
  them;
- a page whose script never ran (blocked, no JavaScript) was blank, saying nothing;
- a key pasted with a smart quote got the browser's own fetch error, and was kept: after a
  reload every page said that error and the sign-in form was gone.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbiter.offline.demo import Running, admin_create_key
from arbiter.records import AlertRecord, Attempt, Candidate, DecisionRecord
from tests.browser import seeded_stack

pytestmark = pytest.mark.timeout(300)

BIG = "W" * 100_000  # one unbroken 100 KB value: a model id, a task, a tenant, a message
BIG_ID = "dec_big"
SCALE = 10_000  # decisions of tenant "busy", every fourth one a judge's call
MODELS = 500
ALERTS = 231  # of tenant "busy": three pages of the dashboard's 100


def _decision(i: str, ts: float, tenant: str, model: str, task: str, **kw: Any) -> DecisionRecord:
    return DecisionRecord(
        id=i, ts=ts, tenant=tenant, task=task, mode=kw.pop("mode", "routed"), chosen_model=model,
        reason=kw.pop("reason", "cheapest against a bar of 0.800"),
        candidates=(Candidate(model, 0.9, 0.85, 0.001),), attempts=(Attempt(model, True, 9.0),),
        status="ok", cost_usd=kw.pop("cost", 0.001), baseline_model="base",
        baseline_cost_usd=0.01, latency_ms=14.0, prompt_tokens=3, completion_tokens=2, **kw,
    )  # fmt: skip


def _records(now: float) -> list[DecisionRecord | AlertRecord]:
    out: list[DecisionRecord | AlertRecord] = []
    start = now - 6 * 86400  # the busy tenant's traffic ends before the gappy one's begins
    for i in range(SCALE):
        mode = "judge" if i % 4 == 3 else "routed"
        m = f"model-{i % MODELS:03d}"
        out.append(_decision(f"dec_busy_{i:05d}", start + i, "busy", m, f"task-{i % 7}", mode=mode))
    # the newest 210 of "judgy" are judge calls: the feed's first read (200 rows) holds no other
    for i in range(250):
        mode = "judge" if i >= 40 else "routed"
        out.append(_decision(f"dec_judgy_{i:03d}", start + i, "judgy", "m", "t", mode=mode))
    # two minutes with traffic, 45 minutes apart, and none between them
    minute = int(now // 60) * 60
    for i, ago in enumerate((50, 5)):
        out.append(_decision(f"dec_gap_{i}", minute - ago * 60 + 10, "gappy", "m", "t", cost=0.5))
    out.append(
        _decision(BIG_ID, now, BIG, BIG, BIG, reason=f"{BIG} against a bar of 0.800", error=BIG)
    )
    out.append(AlertRecord("alert_big", now, "busy", "quality_drop", BIG, model=BIG, task=BIG))
    for i in range(ALERTS - 1):
        out.append(AlertRecord(f"alert_{i:03d}", start + i, "busy", "quality_drop", f"drop {i}"))
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("ui-probe17")
    with seeded_stack(workdir, _records) as running:
        yield running


def _root(stack: Running) -> str:
    return stack.base_url.removesuffix("/v1")


def _signed_in(browser: Any, stack: Running, problems: list[str]) -> Any:
    page = browser.new_page(locale="en-US", viewport={"width": 1320, "height": 900})
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.goto(_root(stack) + "/arbiter/ui")
    page.fill("#key", stack.admin_key)
    page.click("#login-form button")
    page.wait_for_selector("[data-test=savings-pct]")
    return page


def _open(page: Any, view: str) -> None:
    page.evaluate(f"location.hash = '#/{view}'")
    tab = "feed" if view.startswith("decision/") else view  # a decision's page is the feed's
    page.wait_for_selector(f"nav a.active[data-view={tab}]")
    page.wait_for_selector("main h1")
    # every piece drawn (a view of 500 models draws its rows in slices after its heading)
    page.wait_for_selector(f"main[data-drawn={view.split('/')[0]}]")
    page.wait_for_load_state("networkidle")


# how wide the page is against the window, the widest panel's overflow, the tallest table row
LAYOUT = """() => ({
  page: document.documentElement.scrollWidth - innerWidth,
  panel: Math.max(0, ...[...document.querySelectorAll("main .panel, main table")]
    .map((p) => p.scrollWidth - p.clientWidth)),
  row: Math.max(0, ...[...document.querySelectorAll("main tr")].map((r) => r.offsetHeight)),
  block: Math.max(0, ...[...document.querySelectorAll("main .reason, main dd")]
    .map((r) => r.offsetHeight)),
})"""


def test_a_100_kb_value_never_sets_the_width_of_a_page(stack: Running, browser: Any) -> None:
    problems: list[str] = []
    page = _signed_in(browser, stack, problems)
    options = page.locator("#tenant option").all_text_contents()
    assert "W" * 160 + "… (99,840 more characters)" in options
    assert page.evaluate("document.querySelector('header.top').scrollWidth <= innerWidth")
    for view in ("overview", "models", "pareto", "feed", "alerts", f"decision/{BIG_ID}"):
        _open(page, view)
        if view.startswith("decision"):
            page.wait_for_selector("[data-test=chosen-model]")
            # the reason and the error are there whole, in boxes of their own
            assert page.text_content("[data-test=reason]") == f"{BIG} against a bar of 0.800"
            assert BIG in (page.locator("dd .long").text_content() or "")
            shown = page.text_content("[data-test=chosen-model]") or ""
            assert shown == "W" * 160 + "… (99,840 more characters)"
        layout = page.evaluate(LAYOUT)
        assert layout["page"] <= 0, (view, layout)
        assert layout["panel"] <= 1, (view, layout)
        assert layout["row"] < 800, (view, layout)  # a cut value wraps in a few dozen lines
        assert layout["block"] < 600, (view, layout)
    assert problems == []


def _api_rows(stack: Running, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every decision the admin reads (of `tenant`), newest first, the judge's calls left out."""
    rows: list[dict[str, Any]] = []
    after = None
    with httpx.Client(
        base_url=_root(stack), headers={"authorization": f"Bearer {stack.admin_key}"}, timeout=30
    ) as c:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if after:
                params["after"] = after
            if tenant:
                params["tenant"] = tenant
            body = c.get("/arbiter/decisions", params=params).raise_for_status().json()
            rows += body["data"]
            if not body["has_more"]:
                return [r for r in rows if r["mode"] != "judge"]
            after = body["last_id"]


def _feed_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "[data-test=feed] tbody tr", "rows => rows.map((r) => r.dataset.id)"
    )


def test_the_feed_pages_back_through_10000_decisions(stack: Running, browser: Any) -> None:
    expected = [r["id"] for r in _api_rows(stack)]
    assert len(expected) == SCALE * 3 // 4 + 40 + 2 + 1
    problems: list[str] = []
    page = _signed_in(browser, stack, problems)
    _open(page, "feed")
    page.wait_for_selector("[data-test=feed]")
    assert _feed_ids(page) == expected[:50]
    assert page.is_disabled("[data-test=feed-newer]")
    for n in (1, 2):
        page.click("[data-test=feed-older]")
        page.wait_for_selector(f"[data-test=feed-where]:text-is('{50 * n + 1}–{50 * n + 50}')")
        assert _feed_ids(page) == expected[50 * n : 50 * n + 50]
    assert "not refreshing" in (page.text_content("h1 .live") or "")
    page.click("[data-test=feed-newer]")
    page.wait_for_selector("[data-test=feed-where]:text-is('51–100')")
    assert _feed_ids(page) == expected[50:100]
    page.click("[data-test=feed-newest]")
    page.wait_for_selector("[data-test=feed-where]:text-is('1–50')")
    assert _feed_ids(page) == expected[:50]

    # a tenant whose newest 210 decisions are the judge's: the first read shows none of its
    # own and says so, and the next page has them (no "No decisions yet")
    page.select_option("#tenant", "judgy")
    page.wait_for_selector("main p.empty:has-text('Only the judge')")
    page.click("[data-test=feed-older]")
    page.wait_for_selector("[data-test=feed-where]:text-is('1–40')")
    assert _feed_ids(page) == [r["id"] for r in _api_rows(stack, "judgy")]
    assert page.is_disabled("[data-test=feed-older]")  # the end of the store
    page.check("#show-judge")  # every row again, from the newest
    page.wait_for_selector("[data-test=feed-where]:text-is('1–50')")
    assert page.is_enabled("[data-test=feed-older]")
    assert problems == []


def test_the_alerts_page_back_through_the_store(stack: Running, browser: Any) -> None:
    """/arbiter/alerts read the newest `limit` (at most 1,000) and no more: the dashboard showed
    the newest 200 alerts and nothing older. It pages on `after` now, as decisions do."""
    admin = {"authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(base_url=_root(stack), headers=admin, timeout=30) as c:
        expected = [a["id"] for a in c.get("/arbiter/alerts?limit=1000").json()["data"]]
        assert len(expected) == ALERTS
        first = c.get("/arbiter/alerts?limit=100").json()
        assert first["has_more"] and first["last_id"] == expected[99]
        r = c.get("/arbiter/alerts", params={"after": "no-such-alert"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "after", r.text
        # another tenant's alert is no cursor for a tenant's key (nor a way to learn it exists)
        judgy = admin_create_key(_root(stack), stack.admin_key, "judgy", "probe17")
        r = c.get(
            "/arbiter/alerts",
            params={"after": expected[0]},
            headers={"authorization": f"Bearer {judgy}"},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "after", r.text
    problems: list[str] = []
    page = _signed_in(browser, stack, problems)
    _open(page, "alerts")
    page.wait_for_selector("[data-test=alerts-where]:text-is('1–100')")
    for n in (1, 2):
        page.click("[data-test=alerts-older]")
        last = min(100 * n + 100, ALERTS)
        page.wait_for_selector(f"[data-test=alerts-where]:text-is('{100 * n + 1}–{last}')")
    shown = page.locator("[data-test=alerts] tbody tr td.msg").all_text_contents()
    assert shown == [f"drop {i}" for i in range(ALERTS - 201, -1, -1)]  # 201st: drop 30
    assert page.is_disabled("[data-test=alerts-older]")  # the oldest alert
    page.click("[data-test=alerts-newest]")
    page.wait_for_selector("[data-test=alerts-where]:text-is('1–100')")
    assert problems == []


# the cumulative routed-cost line's points, in the chart's own coordinates
LINE_POINTS = """() => [...document.querySelector(".chart-box path.line.s-cost").getAttribute("d")
  .matchAll(/[ML](-?[\\d.]+),(-?[\\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])])"""


def test_the_cumulative_cost_stays_flat_over_minutes_with_no_traffic(
    stack: Running, browser: Any
) -> None:
    problems: list[str] = []
    page = _signed_in(browser, stack, problems)
    page.select_option("#tenant", "gappy")
    page.wait_for_selector("[data-test=requests]:text-is('2')")
    page.wait_for_selector(".chart-box path.line.s-cost")
    points = page.evaluate(LINE_POINTS)
    minute = points[1][0] - points[0][0]  # the first point: its minute's start; then its end
    assert minute > 0
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x1 - x0 > 1.5 * minute:  # across the quiet minutes: no spend drawn in them
            assert y1 == y0, points
    assert len(points) == 4, points  # start, first minute's end, second's start and end
    assert problems == []


def test_a_page_whose_script_never_runs_says_so(stack: Running, browser: Any) -> None:
    """app.js blocked (or no JavaScript, or a browser without ES modules): the sign-in form is
    hidden until the script shows it, and the page was blank, saying nothing."""
    page = browser.new_page(locale="en-US")
    page.route("**/arbiter/ui/app.js", lambda route: route.abort())
    page.goto(_root(stack) + "/arbiter/ui")
    note = page.wait_for_selector("main [data-test=no-script]:visible", timeout=10_000)
    assert "script did not run" in (note.text_content() or "")
    # and where it runs, the note is gone before it would have been shown
    page.unroute("**/arbiter/ui/app.js")
    page.goto(_root(stack) + "/arbiter/ui")
    page.wait_for_selector("#login-form:visible")
    assert page.locator("[data-test=no-script]").count() == 0


def test_a_key_pasted_with_a_smart_quote_is_told_apart_and_not_kept(
    stack: Running, browser: Any
) -> None:
    """fetch refuses a header with a character beyond ISO-8859-1: the browser's own error was
    shown, the key was kept, and after a reload every page said that error, the sign-in gone."""
    problems: list[str] = []
    page = browser.new_page(locale="en-US")
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(_root(stack) + "/arbiter/ui")
    page.fill("#key", f"\u201c{stack.admin_key}\u201d")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:has-text('printable ASCII')")
    assert "U+201C" in (page.text_content("#login-error") or "")
    assert page.evaluate("sessionStorage.getItem('arbiter.key')") is None
    page.reload()
    page.wait_for_selector("#login-form:visible")
    page.fill("#key", stack.admin_key)  # the key itself still signs in
    page.click("#login-form button")
    page.wait_for_selector("[data-test=savings-pct]")
    assert problems == []


def test_a_store_that_fails_under_a_live_page_is_said_so(stack: Running, browser: Any) -> None:
    """Runs last in this module: it breaks the store (the decisions table gone) and mends it."""
    problems: list[str] = []
    db = Path(stack.workdir) / "arbiter.db"
    page = _signed_in(browser, stack, problems)
    _open(page, "feed")
    page.wait_for_selector("[data-test=feed] tbody tr")
    before = _feed_ids(page)
    assert page.locator("[data-test=stale]").is_hidden()
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE decisions RENAME TO decisions_gone")
    try:
        note = page.wait_for_selector("[data-test=stale]:visible", timeout=15_000)
        text = note.text_content() or ""
        assert re.search(r"Could not refresh this page: The store is unavailable", text), text
        assert "It shows what the sidecar said at" in text
        assert page.evaluate("document.body.classList.contains('is-stale')")  # "live" greyed
        assert _feed_ids(page) == before  # what it showed stays, said to be old
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("ALTER TABLE decisions_gone RENAME TO decisions")
    page.wait_for_selector("[data-test=stale]", state="hidden", timeout=15_000)
    # the 503s themselves are the browser's console lines; no uncaught error
    assert [p for p in problems if "503" not in p] == []
