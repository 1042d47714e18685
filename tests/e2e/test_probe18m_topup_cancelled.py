"""An outsider's probe of a reservation that lands after its request was cancelled: a first
attempt fails (a 5xx, which may be billed: its worst case is committed), the retry's top-up waits
behind a budget row another transaction holds, and the client leaves meanwhile. The top-up's
statement ran on in its thread and reserved for nobody: the amount stayed reserved for as long
as the sidecar ran (only a dead process's holds are swept), shrinking the tenant's cap. Now it
is released once it lands. A real sidecar process in front of a scripted upstream on 127.0.0.1;
SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.pg import empty_store_url
from tests.scripted_upstream import ScriptedHandler, serving
from tests.waiting import until

FAIL_AFTER_S = 0.5  # the first call's 5xx comes this long after it is sent
LOCK_AT_S, LOCK_UNTIL_S = 0.2, 1.8  # the budget row is held from .. to (after the request began)
CLIENT_PATIENCE_S = 1.2  # the client leaves while the retry's top-up waits for the row
PRICES = (0.5, 1.5)  # sim-small's in the demo registry, $ per million tokens
MAX_TOKENS = 1000


class _FailsFirst(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

    def do_POST(self) -> None:
        req = self.read_json()
        type(self).calls += 1
        if type(self).calls == 1:
            time.sleep(FAIL_AFTER_S)
            # a proxy's page, not the provider's error object: it may have been billed (a
            # whole `{"error": ...}` 500 costs nothing since money20, and needs no top-up)
            status, body = 500, b"<html><body>boom</body></html>"
        else:
            status, body = 200, orjson.dumps({
                "id": "chatcmpl-1", "object": "chat.completion", "model": req["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1},
            })  # fmt: skip
        self.answer(body, status=status)


@pytest.fixture
def upstream() -> Iterator[str]:
    _FailsFirst.calls = 0
    with serving(_FailsFirst) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_store_url(request.param, tmp_path / "topup.db") as url:
        yield url


@contextlib.contextmanager
def _row_held(store_url: str, scope: str) -> Iterator[None]:
    if store_url.startswith("sqlite"):
        lite = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    with psycopg.connect(store_url) as pg:
        pg.execute("SELECT * FROM budget_usage WHERE scope = %s FOR UPDATE", (scope,))
        yield
        pg.rollback()


def test_a_top_up_that_lands_after_its_client_left_is_released(
    tmp_path: Path, upstream: str, store_url: str
) -> None:
    doc = demo_settings(upstream, tmp_path / "a.db")
    doc["store"]["url"] = store_url
    doc["routing"]["judge_sample_rate"] = 0.0
    doc["failover"] = {"retries_per_model": 1, "max_models": 1}
    doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": 10.0, "window": "total"}]}
    (tmp_path / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp_path / "a.toml").start()
    try:
        key = str(s.create_key("t18m")["key"])
        headers = {"authorization": f"Bearer {key}"}

        def budget() -> tuple[float, float] | None:
            rows = s.admin("GET", "/arbiter/budgets?tenant=t18m").json()["data"]
            row = next((x for x in rows if x["scope"] == "tenant:t18m"), None)
            return None if row is None else (float(row["spent_usd"]), float(row["reserved_usd"]))

        outcome: list[str] = []

        def ask() -> None:
            body = {"model": "sim-small", "max_tokens": MAX_TOKENS,
                    "messages": [{"role": "user", "content": "hi there"}]}  # fmt: skip
            try:
                r = httpx.post(f"{s.base_url}/chat/completions", json=body, headers=headers,
                               timeout=CLIENT_PATIENCE_S)  # fmt: skip
                outcome.append(f"answered {r.status_code}")
            except httpx.TimeoutException:
                outcome.append("left")

        started = time.monotonic()
        client = threading.Thread(target=ask)
        client.start()
        until(lambda: budget() is not None, "the first call's reservation", timeout_s=5)
        time.sleep(max(LOCK_AT_S - (time.monotonic() - started), 0.0))
        with _row_held(store_url, "tenant:t18m"):
            client.join()
            time.sleep(max(LOCK_UNTIL_S - (time.monotonic() - started), 0.0))
        assert outcome == ["left"]
        assert _FailsFirst.calls == 1  # the retry was never sent: its top-up was cut short
        until(lambda: (budget() or (0, 1))[1] == 0.0, "nothing left reserved", timeout_s=10)
        spent = budget()[0]  # type: ignore[index]
        # the failed first call may have been billed: its worst case, and nothing else
        assert 0 < spent < 2 * MAX_TOKENS * PRICES[1] / 1e6
    finally:
        s.stop()
