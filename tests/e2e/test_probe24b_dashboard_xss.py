"""probe24b: stored XSS against the dashboard in Chromium. Model ids are the text a hostile
party controls most widely (an upstream's listing adds them under discovery, with an alert that
names them; a configured one from a shared config; each lands in decisions, reasons, the feed,
the models and cost/quality views): two that are HTML, called by name (one answered, one
failing), then every page read under the admin key. Held: no script ran, no element or event
handler came from the data, each id is shown as text; the CSP and frame headers are on every
dashboard file, and a page on another origin cannot frame it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests import probe24b_rig as rig
from tests.browser import chromium

pytestmark = pytest.mark.timeout(240)

# printable ASCII, no spaces: valid model names (config_limits.model_name_ok)
CONFIGURED = "<img/src=x/onerror=window.__p24b=1>"
LISTED = '"><svg/onload=window.__p24b=2><script>window.__p24b=3</script>'
PAGES = ("overview", "models", "pareto", "feed", "alerts", "circuits", "budgets")
# any attribute named on* in the document, any inline script, any <img>: none is the UI's own
INJECTED = """() => {
  const on = [...document.querySelectorAll('*')].flatMap(e =>
    [...e.attributes].filter(a => a.name.toLowerCase().startsWith('on'))
      .map(a => e.tagName + ' ' + a.name));
  const scripts = [...document.scripts].filter(s => !s.src).length;
  return {on, scripts, img: document.querySelectorAll('img').length, p: window.__p24b ?? null};
}"""


@dataclass(slots=True)
class Stack:
    s: rig.Running
    decisions: list[str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("p24bui")
    more = f"[models.'{CONFIGURED}']\nupstream = \"ro\"\nprice_in_per_mtok = 1.0\n"
    more += 'price_out_per_mtok = 2.0\ncontext_window = 100000\ncapabilities = ["chat"]\n'
    with rig.running(
        tmp, f"sqlite:///{tmp}/a.db", more=more, ro_more="discover = true\n", listed=(LISTED,)
    ) as s:
        admin = {"authorization": f"Bearer {rig.ADMIN}"}
        key = httpx.post(f"{s.root}/arbiter/admin/keys", json={"tenant": "t-ui"}, headers=admin)
        ids = []
        with openai.OpenAI(
            base_url=f"{s.root}/v1", api_key=key.json()["key"], max_retries=0, timeout=20
        ) as oa:
            _wait_listed(s)
            for model, text in ((CONFIGURED, "hi OK"), (LISTED, "hi OK"), (CONFIGURED, "E500")):
                try:
                    r = oa.chat.completions.with_raw_response.create(
                        model=model, messages=[{"role": "user", "content": text}]
                    )
                    ids.append(r.headers["x-arbiter-decision-id"])
                except openai.APIStatusError as err:
                    ids.append(err.response.headers["x-arbiter-decision-id"])
        yield Stack(s, ids)


def _wait_listed(s: rig.Running) -> None:
    """Discovery's first poll has added the listed model (and its alert)."""
    for _ in range(200):
        models = s.get("/v1/models", rig.ADMIN).json()["data"]
        if any(m["id"] == LISTED for m in models):
            return
        time.sleep(0.05)
    raise AssertionError("the listed model never joined the pool")


def test_hostile_model_ids_render_as_text_on_every_page(stack: Stack) -> None:
    root = stack.s.root
    with chromium() as browser:
        page = browser.new_page(locale="en-US")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(root + "/arbiter/ui#/overview")
        page.fill("#key", rig.ADMIN)
        page.click("#login-form button")
        page.wait_for_selector("main[data-drawn=overview]")
        seen_text = ""
        for name in (*PAGES, *(f"decision/{d}" for d in stack.decisions)):
            page.goto(f"{root}/arbiter/ui#/{name}")
            view = name.split("/")[0]
            page.wait_for_selector(f"main[data-drawn={view}]", timeout=30000)
            found = page.evaluate(INJECTED)
            assert found == {"on": [], "scripts": 0, "img": 0, "p": None}, name
            seen_text += page.inner_text("main")
        assert dialogs == []
    # shown, as text: in the feed, the models view, a decision's page and the alerts
    assert CONFIGURED in seen_text and LISTED in seen_text


def test_every_dashboard_file_carries_the_csp_and_cannot_be_framed(stack: Stack) -> None:
    root = stack.s.root
    for name in ("", "/index.html", "/app.js", "/views.js", "/text.js", "/charts.js", "/style.css"):
        r = httpx.get(root + "/arbiter/ui" + name)
        assert r.status_code == 200, name
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, name
        assert r.headers["x-frame-options"] == "DENY", name
        assert r.headers["x-content-type-options"] == "nosniff", name
    with chromium() as browser:
        page = browser.new_page()
        # a page on another origin (about:blank's opaque one) framing the dashboard: refused
        page.set_content(f'<iframe id="f" src="{root}/arbiter/ui"></iframe>')
        page.wait_for_timeout(1500)
        frame = page.frame_locator("#f")
        assert frame.locator("#login-form").count() == 0
