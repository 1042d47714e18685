"""Outside probe (tenth session): hostile text in every dashboard field, in a real browser.

A model's id is whatever an upstream's listing says (any printable text: `<script>`, quotes,
`javascript:`), a tenant named before names were checked keeps its name, and alerts, grades and
reasons quote them. The stack (sim + sidecar, child processes) serves the dashboard; decisions,
grades and alerts whose every text field is hostile are written to its store, then headless
Chromium signs in and opens every page and the decision's "why" page: no script of theirs runs,
no element of theirs appears, and the text is shown as it is. Found sound: the pages build
nodes with textContent and setAttribute only, and the CSP allows no inline script.

Eleventh session: a bidi control in such text (U+202E RIGHT-TO-LEFT OVERRIDE...) was applied,
so a value could pass for another and the words after it (a reason's "against a bar of 0.800")
read reversed; each is now shown as a visible mark (⟨U+202E⟩, ui/text.js), applied nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arbiter.offline.demo import Running
from arbiter.records import AlertRecord, Attempt, Candidate, DecisionRecord, GradeRecord
from tests.browser import seeded_stack

pytestmark = pytest.mark.timeout(240)

BAIT = "window.__pwned = 1"
HOSTILE = (
    f'"><img src=x onerror="{BAIT}"><script>{BAIT}</script>'
    f'<svg onload="{BAIT}"></svg>\u202eevil\u200b'
)
SHOWN = HOSTILE.replace("\u202e", "⟨U+202E⟩").replace("\u200b", "⟨U+200B⟩")  # as shown
JS_URL = f"javascript:{BAIT}"
DECISION_ID = "dec_<img src=x onerror=window.__pwned=1>"


def _records(now: float) -> list[DecisionRecord | GradeRecord | AlertRecord]:
    d = DecisionRecord(
        id=DECISION_ID,
        ts=now,
        tenant=HOSTILE,
        task=HOSTILE,
        mode="routed",
        chosen_model=HOSTILE,
        reason=f"{HOSTILE} against a bar of 0.800",
        candidates=(
            Candidate(HOSTILE, 0.9, 0.85, 0.001),
            Candidate(JS_URL, 0.5, 0.5, 0.002, eligible=False, why_not=HOSTILE),
        ),
        attempts=(Attempt(JS_URL, False, 5.0, HOSTILE, 500), Attempt(HOSTILE, True, 9.0)),
        status="ok",
        cost_usd=0.001,
        baseline_model=HOSTILE,
        baseline_cost_usd=0.01,
        latency_ms=14.0,
        prompt_tokens=3,
        completion_tokens=2,
        stream=False,
        difficulty=0.5,
        key_id=HOSTILE,
        error=HOSTILE,
        cost_source=HOSTILE,
    )
    g = GradeRecord(DECISION_ID, now, HOSTILE, HOSTILE, HOSTILE, 0.7, "judge", detail=HOSTILE)
    a = AlertRecord("alert_1", now, HOSTILE, HOSTILE, HOSTILE, model=JS_URL, task=HOSTILE)
    return [d, g, a]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("hostile-ui")
    with seeded_stack(workdir, _records) as running:
        yield running


def test_the_dashboard_serves_its_pages_with_a_strict_policy(stack: Running) -> None:
    r = httpx.get(stack.base_url.removesuffix("/v1") + "/arbiter/ui", timeout=10)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"


# the text nodes on the page (and the tenant picker) that hold a bidi or zero-width control
BIDI_IN_TEXT = """() => {
  const bidi = /[\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff]/;
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let n = walk.nextNode(); n; n = walk.nextNode()) if (bidi.test(n.data)) found.push(n.data);
  return found;
}"""


def test_hostile_text_is_shown_as_text_on_every_page(stack: Running, browser: Any) -> None:
    root = stack.base_url.removesuffix("/v1")
    page = browser.new_page(locale="en-US")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(root + "/arbiter/ui")
    page.fill("#key", stack.admin_key)
    page.click("#login-form button")
    page.wait_for_selector("[data-test=savings-pct]")

    def clean() -> None:
        assert page.evaluate("window.__pwned") is None
        assert (
            page.locator("main img, main script, main iframe, main a[href^=javascript]").count()
            == 0
        )
        assert page.locator("svg[onload], [onerror]").count() == 0
        assert dialogs == []
        assert page.evaluate(BIDI_IN_TEXT) == []

    assert SHOWN in [o.text_content() for o in page.locator("#tenant option").all()]
    page.click("nav a[data-view=models]")
    page.wait_for_selector("main[data-drawn=models]")  # every piece of the view drawn
    assert SHOWN in page.locator("[data-test=by-model] td").all_text_contents()
    assert SHOWN in page.locator("[data-test=matrix] th").all_text_contents()  # the task
    clean()
    page.click("nav a[data-view=pareto]")
    page.wait_for_selector("main[data-drawn=pareto]")  # every task's chart (drawn in pieces)
    assert SHOWN in page.locator("section.pareto h2").all_text_contents()
    assert any(
        SHOWN in t for t in page.locator(".pareto svg text, .pareto svg title").all_text_contents()
    )
    clean()
    page.click("nav a[data-view=feed]")
    page.wait_for_selector("[data-test=feed] [data-test=decision-link]")
    link = page.locator("[data-test=feed] [data-test=decision-link]").first
    assert link.text_content() == SHOWN
    link.click()
    page.wait_for_selector("[data-test=chosen-model]")
    assert page.text_content("[data-test=chosen-model]") == SHOWN
    assert page.text_content("[data-test=reason]") == f"{SHOWN} against a bar of 0.800"
    assert page.locator("[data-test=attempts] td", has_text=SHOWN).count() >= 2
    assert page.locator("[data-test=grades] td", has_text=SHOWN).count() >= 2
    clean()
    page.click("nav a[data-view=alerts]")
    page.wait_for_selector("[data-test=alerts]")
    assert page.locator("[data-test=alerts] td", has_text=SHOWN).count() >= 3
    for view in ("circuits", "budgets", "overview"):
        page.click(f"nav a[data-view={view}]")
        page.wait_for_selector(f"nav a.active[data-view={view}]")
        page.wait_for_load_state("networkidle")
    clean()


@pytest.mark.parametrize("hash_", ["constructor", "toString", "__proto__", "hasOwnProperty"])
def test_a_link_to_an_object_builtin_opens_the_overview(
    stack: Running, hash_: str, browser: Any
) -> None:
    """`#/constructor` named no page, but `ROUTES[name]` found Object's own members: a blank
    page, or a TypeError in the page, instead of the overview that any other unknown name opens."""
    page = browser.new_page(locale="en-US")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.base_url.removesuffix("/v1") + "/arbiter/ui")
    page.fill("#key", stack.admin_key)
    page.click("#login-form button")
    page.wait_for_selector("[data-test=savings-pct]")
    page.evaluate(f"location.hash = '#/{hash_}'")
    page.wait_for_selector("nav a.active[data-view=overview]", timeout=10_000)
    page.wait_for_selector("main h1:text-is('Savings')")
    assert page.locator("main p.error").count() == 0
    assert errors == []


def test_a_bidi_override_in_a_value_reorders_nothing_on_screen(
    stack: Running, browser: Any
) -> None:
    """The decision's reason, "<model with U+202E> against a bar of 0.800": applied, the override
    ran on to the end of the line, and "bar" was drawn left of "against" (the words reversed)."""
    root = stack.base_url.removesuffix("/v1")
    page = browser.new_page(locale="en-US")
    page.goto(root + "/arbiter/ui")
    page.fill("#key", stack.admin_key)
    page.click("#login-form button")
    page.wait_for_selector("[data-test=savings-pct]")
    page.evaluate("id => { location.hash = '#/decision/' + encodeURIComponent(id); }", DECISION_ID)
    page.wait_for_selector("[data-test=reason]")
    # (line, left) of each: the reason may wrap between two of them
    spots = [tuple(p) for p in page.evaluate(WORD_SPOTS, ["against", "bar", "of"])]
    assert spots == sorted(spots), spots  # drawn line by line, left to right, as written
    marks = page.locator("[data-test=reason] .bidi-mark").all_text_contents()
    assert marks == ["⟨U+202E⟩", "⟨U+200B⟩"]  # the zero-width space shown too


# the line (its top, rounded) and left edge on screen of each word's first occurrence in the
# reason's text
WORD_SPOTS = """(words) => {
  const reason = document.querySelector("[data-test=reason]");
  const walk = document.createTreeWalker(reason, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walk.nextNode(); n; n = walk.nextNode()) nodes.push(n);
  return words.map((w) => {
    const node = nodes.find((n) => n.data.includes(w));
    const range = document.createRange();
    const at = node.data.indexOf(w);
    range.setStart(node, at);
    range.setEnd(node, at + w.length);
    const box = range.getBoundingClientRect();
    return [Math.round(box.top), box.left];
  });
}"""
