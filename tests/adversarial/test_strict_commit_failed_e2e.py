"""`durability = "strict"` through the sidecar: a decision whose commit fails outright (the store
refuses the write) was lost: the client got the "not recorded, retry" 503, the spend was
settled, and the record was never written. It now goes to the recorder's backlog and is written
once the store is back: one stored decision, its spend on the cap once, nothing reserved; the
client's retry is its own decision. Both backends, real stores; the fault sits at the store
boundary (test_recorder's FlakyStore wrapping the sidecar's own store)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from arbiter.store import Store
from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg
from tests.store.test_recorder import FlakyStore
from tests.waiting import until_async

pytestmark = pytest.mark.timeout(120)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "total"\nlimit_usd = 100.0\n'
ASK = {"model": "sim-premium", "messages": [{"role": "user", "content": "Say hi."}]}


@contextmanager
def _store_url(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None  # the in-process sidecar's own SQLite file
        return
    with fresh_database(require_pg()) as url:
        yield url


def _decisions(store: Store) -> list[str]:
    return [d["id"] for d in store.iter_decisions(since=0.0, tenant=None)]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_refused_strict_commit_is_written_once_when_the_store_is_back(
    tmp_path: Path, backend: str, stream: bool
) -> None:
    with _store_url(backend) as url:

        def config(text: str) -> str:
            lines = [
                (f'url = "{url}"\n' if url else line + "\n") + 'durability = "strict"'
                if line.startswith("url = ")
                else line
                for line in text.splitlines()
            ]  # no sampled judge calls: only the requests' own decisions
            return (
                "\n".join(lines).replace("judge_sample_rate = 1.0", "judge_sample_rate = 0.0") + CAP
            )

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                store = sc.services.store
                flaky = FlakyStore(store)
                sc.services.recorder._store = flaky  # type: ignore[assignment]
                body = {**ASK, "stream": stream}
                flaky.down = True  # writes fail: the strict commit's and the recorder's
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                if stream:  # the answer streamed, then the commit failed
                    assert r.status_code == 200 and "store_unavailable" in r.text, r.text
                else:
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"] == "store_unavailable", r.text
                assert _decisions(store) == []
                assert sc.services.recorder.backlog >= 1  # before: nothing queued
                flaky.down = False
                await until_async(
                    lambda: _decisions(store) and not sc.services.recorder.backlog,
                    "the refused commit's decision was written",
                    timeout_s=20.0,
                )
                (lost,) = _decisions(store)
                # a stream's headers name its decision, and so does the 503
                assert r.headers["x-arbiter-decision-id"] == lost
                # the client's retry: a new request and decision of its own
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text
                kept = r.headers["x-arbiter-decision-id"]
                assert sorted(_decisions(store)) == sorted({lost, kept})
                budgets = sc.services.budgets
                await until_async(lambda: not budgets.unsettled, "spend settled", 10.0)

                async def released() -> bool:  # the retried stream settles after its last byte
                    rows = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()
                    return abs(rows["data"][0]["reserved_usd"]) <= 1e-12

                await until_async(released, "the retry's reservation released", 10.0)
                (row,) = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()["data"]
                cost = sum(d["cost_usd"] for d in store.iter_decisions(since=0.0, tenant=None))
                assert row["reserved_usd"] == pytest.approx(0.0, abs=1e-12), row
                # once each: the lost one's spend was settled before its commit, never again
                assert row["spent_usd"] == pytest.approx(cost, rel=1e-9), (row, cost)
                totals = store.timeseries(tenant=None, since=0.0, until=4e9, bucket_s=3600 * 24)
                assert sum(p["requests"] for p in totals) == 2, totals

        asyncio.run(main())
