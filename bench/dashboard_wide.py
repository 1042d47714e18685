"""The dashboard's models and cost/quality views with 500 graded models, base UI against this
tree's, in one headless Chromium on one demo stack (sim + sidecar), visits interleaved (ABAB) so
both see the same host load.

The base's UI files (`git show REF:python/arbiter/ui/...`) are served in place of this tree's by
intercepting the page's requests for them (Playwright's `page.route`): same sidecar, same data,
same browser, only the scripts differ. Per visit: the longest task (Long Tasks API) and the
longest gap between two animation frames until the view is drawn (the new UI marks
`main[data-drawn]`; the base has no mark, so both are waited on until their last table is there
and the network is quiet, then 300 ms more), and what the view left in the page (elements, SVG
texts). Also the control of tests/e2e/test_dashboard_wide.py (1,500 rows drawn at once), measured
after each visit: the host's speed at that moment.

Usage: python bench/dashboard_wide.py [--base main] [--rounds 5]
Also, per round and variant, the pareto chart of 500 points alone in that page's charts.js: its
first piece (built, in the page, laid out) and its longest later step, medians.
Prints a table and one JSON line {"VARIANT": {"VIEW": {"longest_ms": median, "gap_ms": median,
"nodes": n, "texts": n, "visits_with_long_task": n, "longest_max_ms": x}, "chart_piece":
{"first_ms": median, "longest_step_ms": median, "points": n}}, "control_ms": median}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "python"), str(ROOT)]

from tests.browser import chromium  # noqa: E402
from tests.e2e.test_dashboard_wide import CONTROL, WATCH, WATCHED, _records  # noqa: E402

from arbiter.offline.demo import running_stack  # noqa: E402
from arbiter.store import open_store  # noqa: E402

UI_FILES = ("app.js", "charts.js", "views.js", "text.js", "style.css")
DRAWN = {"models": "[data-test=by-task] tbody tr", "pareto": "section.pareto:last-child table"}
LEFT = "() => ({ nodes: document.querySelectorAll('main *').length, texts: document.querySelectorAll('main svg text').length })"  # noqa: E501


# the pareto chart of 500 points alone, drawn the view's way in this page's charts.js: its first
# piece (built, put in the page, laid out) and its longest later step (the new UI's points, 50 a
# step; the base draws every point in the first piece and has no later step)
CHART_PIECE = """async () => {
  const { paretoChart } = await import("/arbiter/ui/charts.js");
  const points = Array.from({ length: 500 }, (_, i) => ({ x: 0.001 * (1 + i),
    y: 0.5 + (i % 40) / 100, label: `vendor/model-${i}-instruct`, onFrontier: i % 97 === 0,
    weight: i }));
  const main = document.querySelector("main");
  const steps = [];
  let t0 = performance.now();
  const chart = paretoChart(points, { x: 0.05, y: 0.8 }, { pointSteps: steps });
  main.append(chart);
  chart.getBBox();
  const first = performance.now() - t0;
  let step = 0;
  for (const s of steps) {
    t0 = performance.now();
    s();
    chart.getBBox();
    step = Math.max(step, performance.now() - t0);
  }
  chart.remove();
  return { first, step, points: chart.querySelectorAll("g.pt").length };
}"""


def _base_files(ref: str) -> dict[str, bytes]:
    out = {}
    for name in UI_FILES:
        out[name] = subprocess.run(
            ["git", "show", f"{ref}:python/arbiter/ui/{name}"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
    return out


def _serve(body: bytes, kind: str) -> Any:
    """A route handler answering with `body` (Playwright calls it with the route and request)."""
    return lambda route, _request=None: route.fulfill(body=body, content_type=kind)


def _visit(page: Any, view: str, variant: str) -> dict[str, float]:
    page.evaluate(WATCH)
    page.wait_for_timeout(200)
    page.evaluate("() => { window.__long = []; window.__gap = 0; }")
    page.evaluate(f"location.hash = '#/{view}'")
    # the base has no mark of a view drawn: its last table's rows (drawn in the same task)
    drawn = DRAWN[view] if variant == "base" else f"main[data-drawn={view}]"
    page.wait_for_selector(drawn, state="attached")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    got = dict(page.evaluate(WATCHED))
    got.update(page.evaluate(LEFT))
    page.evaluate("location.hash = '#/budgets'")  # away: the next visit draws from nothing
    page.wait_for_selector("main h1:text-is('Budgets')")
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="main", help="git ref of the base UI (default: main)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base = _base_files(args.base)
    seen: dict[str, dict[str, list[dict[str, float]]]] = {
        v: {"models": [], "pareto": []} for v in ("base", "new")
    }
    control: list[float] = []
    piece: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        store = open_store(f"sqlite:///{Path(tmp) / 'arbiter.db'}")
        try:
            store.write(_records(time.time()))
        finally:
            store.close()
        root = stack.base_url.removesuffix("/v1")
        with chromium() as browser:
            pages = {}
            for variant in ("base", "new"):
                page = browser.new_page(locale="en-US", viewport={"width": 1320, "height": 900})
                if variant == "base":
                    for name, body in base.items():
                        kind = "text/css" if name.endswith(".css") else "text/javascript"
                        page.route(f"**/arbiter/ui/{name}", _serve(body, kind))
                page.goto(root + "/arbiter/ui")
                page.fill("#key", stack.admin_key)
                page.click("#login-form button")
                page.wait_for_selector("[data-test=savings-pct]")
                page.select_option("#tenant", "wide")
                page.wait_for_load_state("networkidle")
                pages[variant] = page
            for _ in range(args.rounds):
                for variant in ("base", "new"):
                    for view in ("models", "pareto"):
                        seen[variant][view].append(_visit(pages[variant], view, variant))
                        control.append(float(pages[variant].evaluate(CONTROL)))
                    piece[variant].append(dict(pages[variant].evaluate(CHART_PIECE)))
    out: dict[str, Any] = {}
    head = ("variant", "view", "longest task ms", "frame gap ms", "nodes", "svg texts", "long")
    print("{:8} {:7} {:>16} {:>13} {:>7} {:>10} {:>14}".format(*head))
    for variant, views in seen.items():
        out[variant] = {}
        for view, runs in views.items():
            row = {
                "longest_ms": statistics.median(r["longest"] for r in runs),
                "gap_ms": statistics.median(r["gap"] for r in runs),
                "nodes": int(statistics.median(r["nodes"] for r in runs)),
                "texts": int(statistics.median(r["texts"] for r in runs)),
                # a median of 0 hides a long task in a minority of visits: how many had one
                # (over 50 ms, the Long Tasks API's floor) and the longest of all
                "visits_with_long_task": sum(1 for r in runs if r["longest"] > 0),
                "longest_max_ms": max(r["longest"] for r in runs),
            }
            out[variant][view] = row
            cells = (variant, view, row["longest_ms"], row["gap_ms"], row["nodes"], row["texts"])
            long = f"{row['visits_with_long_task']}/{len(runs)} max {row['longest_max_ms']:.0f}"
            print("{:8} {:7} {:16.0f} {:13.0f} {:7d} {:10d} {:>14}".format(*cells, long))
    out["control_ms"] = statistics.median(control)
    for view in ("models", "pareto"):
        b, n = out["base"][view], out["new"][view]
        print(
            f"{view}: longest task new/base {n['longest_ms'] / max(b['longest_ms'], 1):.2f}, "
            f"frame gap new/base {n['gap_ms'] / max(b['gap_ms'], 1):.2f}"
        )
    for variant, runs in piece.items():
        out[variant]["chart_piece"] = {
            "first_ms": round(statistics.median(r["first"] for r in runs), 2),
            "longest_step_ms": round(statistics.median(r["step"] for r in runs), 2),
            "points": int(statistics.median(r["points"] for r in runs)),
        }
        c = out[variant]["chart_piece"]
        print(
            f"{variant} pareto chart alone (500 points): first piece {c['first_ms']:.1f} ms, "
            f"longest later step {c['longest_step_ms']:.1f} ms, {c['points']} points"
        )
    print(f"control (1,500 rows at once, host speed): median {out['control_ms']:.0f} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
