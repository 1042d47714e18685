"""`store.durability = "strict"` with a PostgreSQL that goes silent (frozen, or a partition that
drops packets): the decision's commit had no bound, so every answered request waited for as
long as the silence lasted (20 s here; a partition: until TCP gives up, minutes) before its
client heard anything, while chaos17 had already bounded budgets and keys at STORE_WAIT_S. The
commit is now waited on for STORE_WAIT_S too: the client gets the "not recorded, retry" 503,
the commit goes on and lands when the store is back, and nothing is charged twice: the
decision is written once, the cap's spend is what the recorded decisions cost (the client's
retry included, charged once for its own call), and nothing stays reserved."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from arbiter import store_wait, strict_commit
from arbiter.store import StoreError
from arbiter.store_wait import STORE_WAIT_S
from tests.adversarial.test_probe17c_frozen_store import FROZEN_AT_MOST_S, FreezingProxy
from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg

pytestmark = pytest.mark.timeout(120)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 100.0\n'
ASK = {"model": "sim-premium", "messages": [{"role": "user", "content": "Say hi."}]}


def _sums(url: str) -> tuple[float, float, float, int, float]:
    """The cap's spent and reserved, the decisions' cost, how many there are, the totals
    rollup's cost (what the cost reports read)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        spent, reserved = conn.execute(
            "SELECT spent_usd, reserved_usd FROM budget_usage WHERE scope = 'global'"
        ).fetchone() or (0.0, 0.0)
        cost, n = conn.execute("SELECT sum(cost_usd), count(*) FROM decisions").fetchone() or (0, 0)
        (rolled,) = conn.execute("SELECT sum(cost_usd) FROM rollup_totals").fetchone() or (0.0,)
    return float(spent), float(reserved), float(cost or 0.0), int(n), float(rolled or 0.0)


@pytest.mark.postgres
def test_a_strict_commit_on_a_silent_store_is_bounded_and_charged_once(tmp_path: Path) -> None:
    with fresh_database(require_pg()) as url:
        parts = urlsplit(url)
        assert parts.port is not None

        async def main(proxy: FreezingProxy) -> list[str]:
            relayed = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))

            def config(text: str) -> str:
                lines = [
                    f'url = "{relayed}"\ndurability = "strict"'
                    if line.startswith("url = ")
                    else line
                    for line in text.splitlines()
                ]  # no sampled judge calls: only the requests' own decisions and spend
                return (
                    "\n".join(lines).replace("judge_sample_rate = 1.0", "judge_sample_rate = 0.0")
                    + CAP
                )

            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                # under load the pool hands out connections used within the last second,
                # unpinged: set so here, the commit's statement is what meets the silence
                store = sc.services.store
                store._ping_idle_s = 3600.0  # type: ignore[attr-defined]
                await asyncio.gather(*(asyncio.to_thread(store.get_key, "x") for _ in range(6)))
                r = await sc.client.post("/v1/chat/completions", json=ASK, headers=sc.auth)
                assert r.status_code == 200, r.text  # the key is cached from here
                ids = [r.headers["x-arbiter-decision-id"]]
                proxy.freeze()
                frozen_at = time.monotonic()
                safety = asyncio.get_running_loop().call_later(FROZEN_AT_MOST_S, proxy.thaw)
                try:
                    r = await sc.client.post("/v1/chat/completions", json=ASK, headers=sc.auth)
                    answered_after = time.monotonic() - frozen_at
                finally:
                    safety.cancel()
                    proxy.thaw()
                # the reservation and the commit each waited at most STORE_WAIT_S (before: the
                # commit waited for the thaw)
                assert answered_after < 2 * STORE_WAIT_S + 2.0, answered_after
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "store_unavailable", r.text
                assert r.headers["x-should-retry"] == "true"
                commits = sc.services.strict_commits
                for _ in range(200):  # the store is back: the late commit lands (20 s)
                    if not commits.unanswered and not sc.services.budgets.store_down:
                        break
                    await asyncio.sleep(0.1)
                assert not commits.unanswered and not sc.services.budgets.store_down
                # the client's retry: a new request, its own call, charged once
                r = await sc.client.post("/v1/chat/completions", json=ASK, headers=sc.auth)
                assert r.status_code == 200, r.text
                ids.append(r.headers["x-arbiter-decision-id"])
                budgets = sc.services.budgets
                for _ in range(100):
                    if not budgets.unsettled:
                        break
                    await asyncio.sleep(0.1)
                assert not budgets.unsettled
                return ids

        with FreezingProxy(parts.port) as proxy:
            ids = asyncio.run(main(proxy))
        spent, reserved, cost, n, rolled = _sums(url)
        with psycopg.connect(url) as conn:
            got = {row[0] for row in conn.execute("SELECT id FROM decisions").fetchall()}
        # the two answered and the unacknowledged one whose commit landed late, once each
        assert set(ids) <= got and n == 3, (ids, got)
        assert reserved == pytest.approx(0.0, abs=1e-12)
        assert spent > 0 and spent == pytest.approx(cost, rel=1e-9), (spent, cost)
        assert rolled == pytest.approx(cost, rel=1e-9), (rolled, cost)  # not counted twice


class _SilentRecorder:
    """commit_now blocks until released, as on a silent store."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def commit_now(self, records: Any) -> None:
        self.calls += 1
        self.release.wait(10)


def test_commits_past_the_wait_stop_taking_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """After MAX_UNANSWERED commits past their wait, a new one fails at once without a thread
    of its own; once the store answers them, commits are tried again."""
    monkeypatch.setattr(store_wait, "STORE_WAIT_S", 0.05)
    recorder = _SilentRecorder()
    commits = strict_commit.StrictCommits(recorder)  # type: ignore[arg-type]

    async def main() -> None:
        for _ in range(strict_commit.MAX_UNANSWERED):
            with pytest.raises(StoreError, match="no answer from the store"):
                await commits.commit([])
        assert commits.unanswered == strict_commit.MAX_UNANSWERED
        started = time.monotonic()
        with pytest.raises(StoreError, match="earlier commits"):
            await commits.commit([])
        assert time.monotonic() - started < 0.05 and recorder.calls == strict_commit.MAX_UNANSWERED
        recorder.release.set()
        for _ in range(100):
            if not commits.unanswered:
                break
            await asyncio.sleep(0.02)
        assert commits.unanswered == 0
        await commits.commit([])  # answered at once now
        assert recorder.calls == strict_commit.MAX_UNANSWERED + 1

    asyncio.run(main())
