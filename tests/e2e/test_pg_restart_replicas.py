"""A real PostgreSQL restart under two capped replicas' traffic, streams and plain answers: a fast
stop with the server gone 3 s, and a crash (`pg_ctl stop -m immediate`) with it gone 2 s.

Outside probe (thirteenth session). Earlier probes dropped connections or refused them with
ALLOW_CONNECTIONS; this stops the server itself, on a private cluster (never the shared one).
What must hold: no client gets anything but a whole answer, every acknowledged decision is in the
store once it is back, the caps' spend equals the sum of the decisions' costs and nothing stays
reserved, and /healthz says the store is down while it is and healthy after.

The private cluster runs with synchronous_commit=on: scripts/postgres.sh runs with it off (fast
tests), and then a crash loses commits the server had acknowledged (2 of ~700 decisions, with
the spend of their settles, in this probe's first run), which no production server does."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psycopg
import pytest

from tests.bench_scripts import load
from tests.conftest import Sidecar

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

WORKERS = 6  # three per replica, every other request a stream
LEAD_S, AFTER_S = 2.0, 4.0
CAPS = (
    '\n[budgets]\noutage_allowance = 0.05\n[[budgets.caps]]\nscope = "global"\n'
    'limit_usd = 100.0\nwindow = "total"\n[[budgets.caps]]\nscope = "tenant"\n'
    'limit_usd = 50.0\nwindow = "day"\n'
)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("store")


def _settled_budgets(car: Sidecar, url: str, bound_s: float) -> list[dict[str, Any]]:
    """The caps once every settle has landed (nothing reserved, the spend what the stored
    decisions cost), or as they are after `bound_s`: the settle retry loop backs off up to 5 s,
    so a settle that failed during the outage may land seconds after the backlog drained."""
    deadline = time.monotonic() + bound_s
    while True:
        budgets: list[dict[str, Any]] = car.admin("GET", "/arbiter/budgets").json()["data"]
        with psycopg.connect(url) as conn:
            cost = conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM decisions").fetchone()
        spent = next(b["spent_usd"] for b in budgets if b["scope"] == "global")
        reserved = sum(b["reserved_usd"] for b in budgets)
        stored = float(cost[0]) if cost is not None else 0.0
        if (reserved == 0 and spent == pytest.approx(stored, rel=1e-6, abs=1e-9)) or (
            time.monotonic() > deadline
        ):
            return budgets
        time.sleep(0.1)


def _pg_ctl(pgdir: Path, *args: str) -> None:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    command = [str(bindir / "pg_ctl"), "-D", str(pgdir / "data"), *args, "-w"]
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120
    )


def _start(pgdir: Path, port: int) -> None:
    opts = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
        "-c fsync=off -c synchronous_commit=on -c max_connections=200"
    )
    _pg_ctl(pgdir, "-l", str(pgdir / "restarts.log"), "-o", opts, "start")


@pytest.fixture
def cluster(bench: ModuleType) -> Iterator[tuple[Path, int, str]]:
    with bench.throwaway_cluster() as (pgdir, port, url):
        _pg_ctl(pgdir, "stop", "-m", "fast")
        _start(pgdir, port)  # the same cluster, keeping what it acknowledged
        yield pgdir, port, url


async def _client(
    c: httpx.AsyncClient, url: str, key: str, i: int, out: list[tuple[int, str | None, bool]],
    stop: asyncio.Event, chat: dict[str, object],
) -> None:  # fmt: skip
    headers = {"authorization": f"Bearer {key}"}
    n = 0
    while not stop.is_set():
        n += 1
        stream = (n + i) % 2 == 0
        async with c.stream(
            "POST", f"{url}/chat/completions", json={**chat, "stream": stream}, headers=headers
        ) as r:
            text = (await r.aread()).decode()
        whole = r.status_code == 200 and (
            not stream or (text.rstrip().endswith("data: [DONE]") and '"error"' not in text)
        )
        out.append((r.status_code, r.headers.get("x-arbiter-decision-id"), whole))


async def _health(
    urls: list[str], seen: list[list[tuple[float, bool]]], stop: asyncio.Event
) -> None:
    """Each replica's /healthz answers in order: (when asked, store_healthy)."""
    async with httpx.AsyncClient(timeout=5) as c:
        while not stop.is_set():
            for u, mine in zip(urls, seen, strict=True):
                # stamped when asked, not when answered: an answer that left before the outage
                # and arrived late (a loaded host) is no "healthy while down"
                asked = time.monotonic()
                r = await c.get(f"{u}/healthz")
                mine.append((asked, bool(r.json()["store_healthy"])))
            await asyncio.sleep(0.25)


def _down_while_down(seen: list[tuple[float, bool]], down: float, up: float) -> list[str]:
    """What a replica's /healthz got wrong about the outage [down, up), by order alone: it must
    say "down" to a question asked during it (noticed while it lasted, however loaded the host),
    and once it has said so, never "healthy" again until the server is back (no flapping)."""
    during = [(t, ok) for t, ok in seen if down < t < up]
    first = next((i for i, (_, ok) in enumerate(during) if not ok), None)
    if first is None:
        return [f"never said down in {len(during)} answers during the outage"]
    return [f"healthy at +{t - down:.2f}s, after down" for t, ok in during[first:] if ok]


@pytest.mark.parametrize(("mode", "down_s"), [("fast", 3.0), ("immediate", 2.0)])
def test_two_replicas_through_a_postgres_restart(
    bench: ModuleType,
    sim_url: str,
    cluster: tuple[Path, int, str],
    tmp_path: Path,
    mode: str,
    down_s: float,
) -> None:
    pgdir, port, url = cluster
    cfg = bench.write_config(tmp_path / "replicas.toml", sim_url, url)
    cfg.write_text(cfg.read_text() + CAPS)
    cars = [Sidecar(cfg).start(), Sidecar(cfg).start()]
    out: list[tuple[int, str | None, bool]] = []
    health: list[list[tuple[float, bool]]] = [[] for _ in range(2)]  # per replica
    try:
        key = str(cars[0].create_key("capped")["key"])
        for car in cars:  # each replica has seen the key (served from its cache while down)
            httpx.post(
                f"{car.base_url}/chat/completions", json=bench.chat_body(),
                headers={"authorization": f"Bearer {key}"}, timeout=30,
            ).raise_for_status()  # fmt: skip

        async def scenario() -> tuple[float, float]:
            stop = asyncio.Event()
            async with httpx.AsyncClient(timeout=30) as c:
                tasks = [
                    asyncio.ensure_future(
                        _client(c, cars[i % 2].base_url, key, i, out, stop, bench.chat_body())
                    )
                    for i in range(WORKERS)
                ]
                watch = asyncio.ensure_future(_health([s.root_url for s in cars], health, stop))
                await asyncio.sleep(LEAD_S)
                await asyncio.to_thread(_pg_ctl, pgdir, "stop", "-m", mode)
                down = time.monotonic()
                await asyncio.sleep(down_s)
                # the outage's end as the health check reads it: before the start begins (the
                # server accepts connections before pg_ctl returns, and a replica may say
                # healthy in between, rightly)
                up = time.monotonic()
                await asyncio.to_thread(_start, pgdir, port)
                await asyncio.sleep(AFTER_S)
                stop.set()
                await asyncio.gather(*tasks, watch)
            return down, up

        down, up = asyncio.run(scenario())
        for car in cars:
            assert bench._wait_drained(car, 30.0) is not None, "the backlog never drained"
        budgets = _settled_budgets(cars[0], url, bound_s=20.0)
        after = [httpx.get(f"{car.root_url}/healthz", timeout=5).json() for car in cars]
    finally:
        for car in cars:
            car.stop()
    with psycopg.connect(url) as conn:
        stored = dict(conn.execute("SELECT id, cost_usd FROM decisions").fetchall())

    assert out and all(whole for _, _, whole in out), [o for o in out if not o[2]][:5]
    acked = [ident for _, ident, _ in out if ident]
    assert len(acked) == len(out)
    assert [i for i in acked if i not in stored] == []
    spent = next(b["spent_usd"] for b in budgets if b["scope"] == "global")
    assert spent == pytest.approx(sum(stored.values()), rel=1e-6, abs=1e-9)
    assert sum(b["reserved_usd"] for b in budgets) == pytest.approx(0.0, abs=1e-12)
    # /healthz: each replica said down while the server was, and stayed so; healthy after
    assert [_down_while_down(seen, down, up) for seen in health] == [[], []]
    assert all(h["store_healthy"] for h in after)
