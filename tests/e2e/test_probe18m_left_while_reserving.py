"""An outsider's probe of clients that leave while their budget reservation waits (behind a
budget row another transaction holds: in a burst on several replicas the reservation's lock wait
is up to 2 s). The call was still made once the reservation went through, then cancelled at its
first suspension, and charged its worst case: five clients that left before any call cost the
tenant five worst cases ($0.000775 where the sim billed $0.000088 for the one call that got
through). Now no call is made for a client already gone, nothing is charged, nothing stays
reserved, and the request is on record as `client_disconnected`. Real sidecar and sim
processes; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from arbiter.offline.demo import demo_settings, sim_config
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar, start_sim
from tests.pg import empty_store_url
from tests.waiting import until

LEAVERS = 4
CLIENT_PATIENCE_S = 0.4  # the clients leave after this; the row is held for twice as long
HOLD_S = 2 * CLIENT_PATIENCE_S
PROMPT = [{"role": "user", "content": "hi there"}]
BODIES: list[tuple[str, dict[str, Any]]] = [
    ("/chat/completions", {"model": "sim-small", "messages": PROMPT, "max_tokens": 100}),
    ("/chat/completions",
     {"model": "sim-small", "messages": PROMPT, "max_tokens": 100, "stream": True}),
    ("/completions", {"model": "sim-small", "prompt": "hi there", "max_tokens": 100}),
]  # fmt: skip


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cfg = tmp_path_factory.mktemp("sim18m_left") / "sim.toml"
    cfg.write_text(sim_config())
    proc, root = start_sim(cfg)
    yield root
    proc.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "left.db") as url:
        yield url


@contextlib.contextmanager
def _budget_row_held(store_url: str, scope: str) -> Iterator[None]:
    """Another transaction holds the cap's row (PostgreSQL) or the file's write lock (SQLite)
    while the body runs, and HOLD_S at least."""
    started = time.monotonic()
    if store_url.startswith("sqlite"):
        lite = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield
            time.sleep(max(HOLD_S - (time.monotonic() - started), 0.0))
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    with psycopg.connect(store_url) as pg:
        pg.execute("SELECT * FROM budget_usage WHERE scope = %s FOR UPDATE", (scope,))
        yield
        time.sleep(max(HOLD_S - (time.monotonic() - started), 0.0))
        pg.rollback()


def _sim_requests(root: str) -> int:
    models = httpx.get(f"{root}/_sim/stats", timeout=5).json()["models"]
    return sum(int(m["requests"]) for m in models.values())


async def _leave_early(base_url: str, key: str) -> list[str]:
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=CLIENT_PATIENCE_S) as c:

        async def one(i: int) -> str:
            path, body = BODIES[i % len(BODIES)]
            try:
                r = await c.post(f"{base_url}{path}", headers=headers, json=body)
            except httpx.TimeoutException:
                return "left"
            return f"answered {r.status_code}"

        return await asyncio.gather(*(one(i) for i in range(LEAVERS)))


def test_a_client_gone_before_its_call_is_charged_nothing(
    tmp_path: Path, sim_root: str, store_url: str
) -> None:
    doc = demo_settings(f"{sim_root}/v1", tmp_path / "a.db")
    doc["store"]["url"] = store_url
    doc["routing"]["judge_sample_rate"] = 0.0
    doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": 10.0, "window": "total"}]}
    (tmp_path / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp_path / "a.toml").start()
    try:
        key = str(s.create_key("t18m")["key"])
        first = httpx.post(f"{s.base_url}/chat/completions", json=BODIES[0][1], timeout=30,
                           headers={"authorization": f"Bearer {key}"})  # fmt: skip
        assert first.status_code == 200, first.text  # the cap's row now exists

        def budget() -> tuple[float, float]:
            rows = s.admin("GET", "/arbiter/budgets?tenant=t18m").json()["data"]
            row = next(x for x in rows if x["scope"] == "tenant:t18m")
            return float(row["spent_usd"]), float(row["reserved_usd"])

        until(lambda: budget()[0] > 0, "the first request settled")
        spent_before, calls_before = budget()[0], _sim_requests(sim_root)
        outcome: list[list[str]] = []
        with _budget_row_held(store_url, "tenant:t18m"):
            runner = threading.Thread(
                target=lambda: outcome.append(asyncio.run(_leave_early(s.base_url, key)))
            )
            runner.start()
            runner.join()
        assert outcome == [["left"] * LEAVERS]
        until(lambda: budget()[1] == 0.0, "every reservation released")
        time.sleep(0.5)  # a call made late would reach the sim by now
        assert _sim_requests(sim_root) == calls_before, "a call was made for a client gone"
        assert budget()[0] == pytest.approx(spent_before, abs=1e-12)
        rows = s.admin("GET", "/arbiter/decisions?tenant=t18m&limit=100").json()["data"]
        gone = [x for x in rows if x.get("error") == "client_disconnected"]
        assert len(gone) == LEAVERS and all(x["cost_usd"] == 0.0 for x in gone), rows
    finally:
        s.stop()
