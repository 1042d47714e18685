"""GET /arbiter/budgets on a store with a year of history: budget_usage keeps a row per scope and
window forever (300 keys with a daily cap: 109,500 rows a year), and the endpoint returned every
one (14 MB, ~2.5 s, built on the event loop; a tenant's key ~1.7 s for its few rows) to a
dashboard that polls it. It shows the windows open now (today's, this month's, the total), where
the caps act; what closed windows spent stays in /arbiter/timeseries and the decisions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from arbiter.budget import window_bounds
from tests.inproc import InProcess, sidecar_in_process

CAPS = '\n[[budgets.caps]]\nscope = "key"\nwindow = "day"\nlimit_usd = 5.0\n'


def test_budgets_show_the_open_windows_of_a_long_history(tmp_path: Path) -> None:
    now = time.time()
    today, _ = window_bounds("day", now)
    month, _ = window_bounds("month", now)

    async def body(sc: InProcess) -> None:
        key_id = sc.api_key.split("-")[1]
        # a month's first day starts with it: that row is the month's too (budget.caps_for)
        closed_days = [today - i * 86400 for i in range(1, 366) if today - i * 86400 != month]
        with sqlite3.connect(tmp_path / "arbiter.db") as db:
            db.executemany(  # a year of closed days per key, and today's for the first 3
                "INSERT INTO budget_usage (scope, window_start, spent_usd, reserved_usd) "
                "VALUES (?, ?, 0.01, 0)",
                [(f"key:k{k:03d}", day) for k in range(300) for day in closed_days]
                + [(f"key:k{k:03d}", today) for k in range(3)]
                + [(f"key:{key_id}", closed_days[0]), (f"key:{key_id}", today)]
                + [("global", month), ("global", month - 40 * 86400), ("tenant:default", 0.0)],
            )  # fmt: skip
        r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
        assert r.status_code == 200, r.text
        shown = {(x["scope"], x["window_start"]) for x in r.json()["data"]}
        assert shown == {
            *((f"key:k{k:03d}", today) for k in range(3)),
            (f"key:{key_id}", today),
            ("global", month),
            ("tenant:default", 0.0),
        }
        r = await sc.client.get("/arbiter/budgets", headers=sc.auth)
        mine = {(x["scope"], x["window_start"]) for x in r.json()["data"]}
        assert mine == {(f"key:{key_id}", today), ("tenant:default", 0.0)}

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + CAPS) as sc:
            await body(sc)

    asyncio.run(main())
