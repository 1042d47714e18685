"""With `server.workers = 2`, /healthz said ready as soon as one worker answered: each worker
binds its SO_REUSEPORT socket before its start-up runs, so connections the kernel gave the
other waited in its backlog meanwhile. /healthz is now a 503 `starting` (how many of how many
serve) until every worker has marked itself ready in the supervisor's directory, then 200."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from arbiter import worker_ready
from tests.conftest import Sidecar
from tests.e2e.test_workers import _with_workers
from tests.inproc import sidecar_in_process


def test_healthz_waits_for_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    monkeypatch.setenv(worker_ready.READY_DIR_ENV, str(ready))
    monkeypatch.setenv(worker_ready.COUNT_ENV, "2")
    monkeypatch.setenv("ARBITER_WORKER", "0")

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.get("/healthz")
            assert r.status_code == 503, r.text
            assert r.json()["status"] == "starting" and r.json()["workers"] == {
                "ready": 0, "of": 2,
            }  # fmt: skip
            worker_ready.mark_ready()  # this worker (0) serves; worker 1 not yet
            r = await sc.client.get("/healthz")
            assert r.status_code == 503 and r.json()["workers"]["ready"] == 1, r.text
            (ready / "1").touch()
            r = await sc.client.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok", r.text
            assert r.json()["workers"] == {"ready": 2, "of": 2}

    asyncio.run(main())


def test_a_lone_sidecar_has_no_workers_field(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            r = await sc.client.get("/healthz")
            assert r.status_code == 200 and "workers" not in r.json(), r.text

    asyncio.run(main())


def test_two_real_workers_report_both_ready(sidecar_config: Path) -> None:
    s = Sidecar(_with_workers(sidecar_config, 2)).start()  # waits for /healthz below 500
    try:
        r = httpx.get(f"{s.root_url}/healthz")
        assert r.status_code == 200 and r.json()["workers"] == {"ready": 2, "of": 2}, r.text
    finally:
        s.stop()
