"""`GET /arbiter/budgets` answered every cap window's row at once: a tenant with a key per user
(and a daily cap per key) has a row per key in each open window, 100,000 keys a 100,000-row
answer. It pages as the decision feed does (`limit` 1-1000, default 1000; `after=<last_id>`
while `has_more`), in (window_start, scope) order, each page read down the index of migration
0065; the tenant filter and a client key's own scopes page the same way. Both stores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter.budget_view import open_window_starts
from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
KEYS = 1_200  # of tenant t1, and as many of t2: a row each in two open windows


def _fill(sc: InProcess) -> list[float]:
    store = sc.services.store
    now = time.time()
    windows = open_window_starts(sc.services.budgets.now())[:2]
    for i in range(2 * KEYS):
        store.create_key(key_id=f"{i:012x}", tenant=f"t{1 + i % 2}", name="",
                         secret_hash="0" * 64, created_ts=now + i, expires_ts=None)  # fmt: skip
    with store._tx() as cur:
        scopes = [f"key:{i:012x}" for i in range(2 * KEYS)] + ["tenant:t1", "tenant:t2", "global"]
        for scope in scopes:
            for w in windows:
                cur.execute(
                    store._sql(
                        "INSERT INTO budget_usage (scope, window_start, spent_usd) "
                        "VALUES (%s, %s, 0.5)"
                    ),
                    (scope, w),
                )
    return windows


async def _walk(sc: InProcess, query: str, headers: dict[str, str]) -> tuple[list[tuple], int]:
    seen: list[tuple] = []
    pages, after = 0, None
    while True:
        q = query + ("" if after is None else f"&after={after}")
        r = await sc.client.get(f"/arbiter/budgets?{q}", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 1000
        seen += [(b["window_start"], b["scope"]) for b in body["data"]]
        pages += 1
        if not body["has_more"]:
            return seen, pages
        after = body["last_id"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_budget_rows_page(tmp_path: Path, backend: str) -> None:
    async def main() -> None:
        with empty_store_url(backend, tmp_path / "b.db") as url:
            async with sidecar_in_process(tmp_path, store_url=url) as sc:
                windows = await asyncio.to_thread(_fill, sc)
                every, pages = await _walk(sc, "", sc.admin)
                assert pages == 5 and len(every) == len(set(every)) == 2 * (2 * KEYS + 3)
                assert every == sorted(every, key=lambda k: k[0])  # window-major
                assert {w for w, _ in every} == set(windows)

                mine, pages = await _walk(sc, "tenant=t1&limit=500", sc.admin)
                want = {s for _, s in every if s in ("tenant:t1", "global")} | {
                    f"key:{i:012x}" for i in range(0, 2 * KEYS, 2)
                }
                assert {s for _, s in mine} == want and len(mine) == 2 * len(want)
                assert pages == 5 and len(set(mine)) == len(mine)

                for q in ("after=xyz", "after=WzEsMl0", "limit=0", "limit=1001", "limit=1&limit=2"):
                    r = await sc.client.get(f"/arbiter/budgets?{q}", headers=sc.admin)
                    assert r.status_code == 400, (q, r.text)
                    assert r.json()["error"]["param"] in ("after", "limit"), r.text
                # a client key: its own scopes, paged the same way
                r = await sc.client.get("/arbiter/budgets?limit=1", headers=sc.auth)
                assert r.status_code == 200 and r.json()["data"] == [], r.text
                assert "shared_caps" in r.json() and r.json()["has_more"] is False

    asyncio.run(main())
